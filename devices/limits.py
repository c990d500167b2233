"""The project's length and validity limits, one home each: models, forms, services, bulk
parsing and the rekey command read them here. (oceanconnect/ keeps its own wire limits: it is a
package of its own and imports nothing of the project.)"""

# The platform's text fields (deviceId, nodeId, names) hold at most 256 characters.
MAX_DEVICE_ID_LENGTH = 256
MAX_NODE_ID_LENGTH = 256
MAX_DEVICE_TEXT_LENGTH = 256  # name, manufacturer, model, device type, app id as mirrored
MAX_VERIFY_CODE_LENGTH = 256

# A verifyCode's validity in seconds; 0 means it never expires (a permission of its own).
MIN_TIMEOUT_SECONDS = 0
MAX_TIMEOUT_SECONDS = 2_147_483_647
DEFAULT_TIMEOUT_SECONDS = 180
# The validities the swap form offers, in minutes (with the default's, and "other").
VALIDITY_PRESET_MINUTES = (5, 15, 30, 60)

# What the device search box reads of a query.
MAX_SEARCH_QUERY_LENGTH = 300
# Shortest query matched inside names and locations (fewer characters hold no trigram).
MIN_SEARCH_CONTAINS_LENGTH = 3
# Fewest last characters of a nodeId (an IMEI's or serial's last digits) matched as its end.
MIN_SEARCH_SUFFIX_LENGTH = 6

# A swap's reason (or ticket reference), and the reason a swap was rejected.
MAX_REASON_LENGTH = 500

# "Send it when the old unit goes offline": how long a swap may wait, in minutes (the form's
# presets; the default is the first choice a technician sees).
OFFLINE_WAIT_PRESETS_MINUTES = (15, 30, 60, 120, 240)
DEFAULT_OFFLINE_WAIT_MINUTES = 30
MAX_OFFLINE_WAIT_MINUTES = 24 * 60
