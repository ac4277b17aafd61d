"""tests/control: fixtures for a second local user and a shared /tmp-like folder."""

from tests.control.local_users import other_user, shared_tmp  # noqa: F401
