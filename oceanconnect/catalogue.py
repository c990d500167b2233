"""What each platform error code means and what staff should do about it, in plain words.

One place for the codes of platform-api.md (the refresh-device-key catalogue, the gateway
codes and login's 100208). The client attaches the handling text to every error it raises;
templates show it, logs show only the code.
"""

from dataclasses import dataclass

THROTTLED = "1010009"
TOKEN_INVALID = "1010005"
INTERNAL_ERROR = "50252"
BAD_CREDENTIALS = "100208"
SUBSCRIPTION_EXISTS = "100227"
# A device that is really gone from the platform (sync uses these after a direct read).
DEVICE_GONE_CODES = frozenset({"100403", "100418"})

# Codes after which the same request may simply be sent again later: nothing changed.
RETRYABLE_CODES = frozenset({INTERNAL_ERROR, THROTTLED})


@dataclass(frozen=True)
class CatalogueEntry:
    """One known error code: the platform's meaning and our advice to staff."""

    code: str
    meaning: str
    handling: str


CATALOGUE: dict[str, CatalogueEntry] = {
    entry.code: entry
    for entry in (
        CatalogueEntry(
            "100217",
            "The application has not been authorized.",
            "Our application is not authorized for this device. Send the partner application's "
            "ID only for devices that belong to another application; leave it empty for our own.",
        ),
        CatalogueEntry(
            "100003",
            "The verification code is invalid.",
            "The verifyCode was refused. Check the custom code (at most 256 characters) or let "
            "the platform generate one; if no code was sent, contact platform maintenance.",
        ),
        CatalogueEntry(
            "100007",
            "The request message contains invalid parameters.",
            "The device ID is missing or malformed. Check the device ID and try again.",
        ),
        CatalogueEntry(
            "100426",
            "The nodeId is duplicated.",
            "The new nodeId is already registered to another device. Check the IMEI, MAC or "
            "serial number of the replacement unit.",
        ),
        CatalogueEntry(
            "100610",
            "The device has not been activated.",
            "The device has never connected to the platform, so it cannot be rebound. Check "
            "that the original unit was ever connected and activated.",
        ),
        CatalogueEntry(
            "100611",
            "The device is online.",
            "The device is still online. Take the old unit offline (power it off or "
            "disconnect it), then try again.",
        ),
        CatalogueEntry(
            "50400",
            "An input parameter is invalid.",
            "The platform refused one of the values sent. Check the nodeId, verifyCode and "
            "timeout, then try again.",
        ),
        CatalogueEntry(
            "100025",
            "The application ID used for authentication does not exist.",
            "The platform did not receive our application ID. Check IOT_APP_ID and the "
            "application-ID header name (IOT_APP_KEY_HEADER: app_key or x-app-key).",
        ),
        CatalogueEntry(
            "100203",
            "The application does not exist.",
            "The platform does not know this application. Check IOT_APP_ID and the partner "
            "application ID of the device.",
        ),
        CatalogueEntry(
            THROTTLED,
            "The application called the platform more often than its flow limit allows.",
            "The platform is busy with our calls (flow limit reached). The request will be "
            "sent again automatically in a moment; nothing needs to be done.",
        ),
        CatalogueEntry(
            TOKEN_INVALID,
            "The access token is invalid.",
            "The platform refused our login token even after logging in again. Check "
            "IOT_APP_ID and that no other system logs in with the same application.",
        ),
        CatalogueEntry(
            "100403",
            "The device does not exist.",
            "The platform does not know this device. Check the device ID; the device may "
            "have been deleted on the platform.",
        ),
        CatalogueEntry(
            "100418",
            "The device data does not exist.",
            "The device does not belong to this application. Check the device ID and whether "
            "it belongs to a partner application.",
        ),
        CatalogueEntry(
            INTERNAL_ERROR,
            "An internal server error occurred on the platform.",
            "The platform had a temporary internal error. The dashboard tries again by "
            "itself; only if every attempt fails, contact platform maintenance.",
        ),
        CatalogueEntry(
            "100006",
            "Refreshing the access token failed.",
            "The platform refused to refresh our login token. The dashboard logs in again "
            "by itself; if this keeps happening, check IOT_APP_SECRET. (The platform answers "
            "a bad or expired refresh token with 401 / 100208, handled the same way.)",
        ),
        CatalogueEntry(
            "100222",
            "The callback URL is illegal.",
            "The platform refused the push callback address. Check IOT_CALLBACK_URL: it must "
            "be an http(s) URL with an explicit port that the platform can reach.",
        ),
        # The codes below are from Huawei's OceanConnect (device management, "联通用户专用")
        # API reference error tables on support.huaweicloud.com, found with a documentation
        # search: 100247 and 102202 (subscription management), 100416 (register device),
        # 100405 (device commands / device queries), 100216 (query device list / history).
        # 100227's text is the subscription API's "The resource is conflicted.". 100218 is the
        # device list's (GET /iocm/app/dm/v1.4.0/devices, 批量查询设备信息列表) 400 "The gatewayId
        # and pageNo can't be both null.", handling "check that gatewayId or pageNo is filled
        # in": https://huaweicloud.com/guide/productsdesc-bms_b71a5b76327e012d12a1085c924affeesupport1
        # (from support.huaweicloud.com/sdkreference-iot/iot_06_2467.html).
        CatalogueEntry(
            SUBSCRIPTION_EXISTS,
            "The resource is conflicted (this notify type is already subscribed).",
            "The platform already pushes this notify type to a callback URL. Run "
            "`manage.py subscribe_notifications --check` to see where; running "
            "`subscribe_notifications` replaces a subscription to another URL.",
        ),
        CatalogueEntry(
            "100247",
            "Operation not allowed: the application has been frozen.",
            "The platform has frozen our application (for example for an unpaid bill). "
            "Contact the platform operator; nothing can be sent until it is unfrozen.",
        ),
        CatalogueEntry(
            "102202",
            "A required parameter is null or empty.",
            "The platform missed a required value in the request. Check the values sent "
            "(for subscriptions: notify type and IOT_CALLBACK_URL) and try again.",
        ),
        CatalogueEntry(
            "100405",
            "The request parameter is invalid.",
            "The platform refused one of the request's parameters. Check the device ID and "
            "the values sent, then try again.",
        ),
        CatalogueEntry(
            "100216",
            "The application input is invalid.",
            "The platform refused the request's parameters (for example a page size over its "
            "limit). Check the values sent; if it keeps failing, contact platform maintenance.",
        ),
        CatalogueEntry(
            "100218",
            "The gatewayId and pageNo cannot both be null.",
            "The platform refused a device-list query sent with neither a page number (pageNo) "
            "nor a gateway ID. The dashboard always sends pageNo, so the request was changed on "
            "the way or built wrongly: report it to the dashboard's maintainers.",
        ),
        CatalogueEntry(
            "100416",
            "The device has already been bound.",
            "The unit is already bound to a device on the platform. Check whether a device with "
            "the same nodeId (IMEI, MAC or serial number) already exists in our application.",
        ),
        CatalogueEntry(
            BAD_CREDENTIALS,
            "The application ID or secret is not right.",
            "The platform refused our login. Check IOT_APP_ID and IOT_APP_SECRET "
            "(or IOT_APP_SECRET_FILE) in the server settings.",
        ),
    )
}

# Texts for failures that carry no platform code.
UNKNOWN_CODE_HANDLING = (
    "The platform refused the request with an error code this dashboard does not know. "
    "Note the code and contact platform maintenance."
)
SERVER_ERROR_HANDLING = (
    "The platform answered with a server error. The dashboard tries again by itself; only if "
    "every attempt fails, contact platform maintenance."
)
CLIENT_ERROR_HANDLING = (
    "The platform refused the request without saying why. Check the device and the values "
    "sent; if it keeps failing, contact platform maintenance."
)
UNREADABLE_ANSWER_HANDLING = (
    "The platform's answer could not be read. Try again; if it keeps failing, contact "
    "platform maintenance."
)
UNREACHABLE_HANDLING = (
    "The platform could not be reached (nothing was sent). The request will be tried again "
    "later; if it keeps failing, check the network and IOT_PLATFORM_URL."
)
NO_ANSWER_HANDLING = "The platform did not answer in time. The request will be tried again later."
OUTCOME_UNKNOWN_HANDLING = (
    "The request reached the platform but no answer came back, so it is not known whether "
    "the device key was changed. The device's state on the platform is checked before "
    "anything is sent again."
)
TLS_HANDLING = (
    "The secure connection to the platform failed. Check IOT_CA_FILE, IOT_CLIENT_CERT, "
    "IOT_CLIENT_KEY, IOT_CLIENT_CERT_PASSWORD, IOT_CLIENT_P12(_PASSWORD) and "
    "IOT_VERIFY_HOSTNAME; retrying will not help until they are fixed."
)
THROTTLED_LOCALLY_HANDLING = (
    "The platform's flow limit is in use by other requests. The request will be sent "
    "automatically as soon as a slot is free; nothing needs to be done."
)


def handling_text(code: str) -> str:
    """Advice to staff for a platform error code (a general text for unknown codes)."""
    entry = CATALOGUE.get(code)
    return entry.handling if entry else UNKNOWN_CODE_HANDLING


def is_retryable_code(code: str) -> bool:
    return code in RETRYABLE_CODES
