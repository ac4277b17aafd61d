"""Peer notification over XMPP."""
