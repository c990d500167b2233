"""What Django's debug page (DEBUG=True) and error reports may show."""

import re
from typing import Any

from django.views.debug import SafeExceptionReporterFilter

from devices.push_logging import RedactPushSecretFilter


class IotSafeExceptionReporterFilter(SafeExceptionReporterFilter):
    """Mask the push secret and callback URL (which carries it) besides Django's own list."""

    hidden_settings = re.compile(
        "API|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|CALLBACK|PUSH", flags=re.IGNORECASE
    )

    def get_safe_request_meta(self, request: Any) -> dict[str, Any]:
        # PATH_INFO, REQUEST_URI and friends of a push request hold the secret in the path.
        redact = RedactPushSecretFilter()._redact
        return {
            key: redact(value) if isinstance(value, str) else value
            for key, value in super().get_safe_request_meta(request).items()
        }
