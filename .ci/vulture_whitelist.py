"""Names vulture reports as unused that are in use: read by vulture with the code (CI).

Each is a parameter a framework passes by name or position (its signature is not ours to
change), or a pytest fixture asked for its effect (a server running, a setting in place).
"""

# Framework signatures: django-q2 signals, aiosmtpd handlers, DRF throttles and content
# negotiation, Django system checks.
proc_name = session = view = parsers = format_suffix = app_configs = None
# Fixtures wanted for what they set up, not for a value.
small_run = operator = django_db_setup = in_test_transaction = busy_queue = None
