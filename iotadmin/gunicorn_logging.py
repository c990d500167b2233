"""gunicorn's logger with the push secret masked in every access-log atom.

The secret is a path segment of /platform/push/<secret>/: the request line, the path, the
query string and every header atom are masked before the access-log format is applied
(`access_log_format` alone cannot rewrite a value). gunicorn.conf.py names this class.
"""

from typing import Any

from gunicorn.glogging import Logger

from devices.push_logging import redact_push_secret


class PushSecretMaskingLogger(Logger):
    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        return {
            key: redact_push_secret(value) if isinstance(value, str) else value
            for key, value in atoms.items()
        }
