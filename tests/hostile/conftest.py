"""Staff credentials for the dashboard, shared with the syncqueue tests."""

from syncqueue.tests.conftest import staff, staff_token  # noqa: F401
