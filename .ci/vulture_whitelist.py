"""Names vulture reports as unused that are in use: read by vulture with the code (CI).

Each is a parameter a framework passes by name or position (its signature is not ours to
change), or a pytest fixture asked for its effect (a server running, a setting in place).
Bare names are how vulture's whitelists mark a name used.
"""

# Framework signatures: django-q2's post_spawn signal, aiosmtpd's handle_DATA, DRF's
# throttle and content negotiation, Django's system checks and admin actions.
proc_name
session
view
parsers
format_suffix
app_configs
modeladmin
# Fixtures wanted for what they set up, not for a value.
small_run
operator
django_db_setup
in_test_transaction
busy_queue
host_stage
