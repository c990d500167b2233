"""The access token every process shares.

The platform honours only the newest access token, so at most one process logs in at a time
(a lock in the shared store), the token is cached in that store, and whoever takes the lock
first re-reads the cache: if another process already replaced the token that failed, that
one is used instead of logging in again.
"""

import json
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from .errors import PlatformPermanentError, PlatformRetryableError, PlatformThrottled
from .store import SharedStore
from .types import AccessToken

log = logging.getLogger("oceanconnect")

TOKEN_KEY = "token"
LOGIN_LOCK_KEY = "lock:login"
# The refresh token lives about a month; keep the cache entry a while after the access token.
TOKEN_CACHE_SECONDS = 7 * 24 * 3600
# An access token closer than this to its expiry is not used for a new call.
MIN_TOKEN_LIFE = 5.0

LoginCall = Callable[[float | None], AccessToken]
RefreshCall = Callable[[str, float | None], AccessToken]


@dataclass(frozen=True)
class TokenCipher:
    """How the cached token is sealed in the shared store (the embedding project supplies it).

    `decrypt` raises any exception for a value it cannot open; the token is then fetched anew.
    """

    encrypt: Callable[[str], str]
    decrypt: Callable[[str], str]


class TokenManager:
    def __init__(
        self,
        *,
        store: SharedStore,
        login: LoginCall,
        refresh: RefreshCall,
        refresh_margin: float,
        lock_ttl: float,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        cipher: TokenCipher | None = None,
    ) -> None:
        self._store = store
        self._cipher = cipher
        self._login = login
        self._refresh = refresh
        self._refresh_margin = refresh_margin
        self._lock_ttl = lock_ttl
        self._clock = clock
        self._monotonic = monotonic
        self._sleep = sleep

    def cached(self) -> AccessToken | None:
        raw = self._store.get(TOKEN_KEY)
        if not raw:
            return None
        if self._cipher is not None:
            try:
                raw = self._cipher.decrypt(raw)
            except Exception:  # sealed with another key, or cached in clear before: log in anew
                return None
        try:
            return AccessToken.from_json(json.loads(raw))
        except (ValueError, KeyError, TypeError):
            return None

    def _usable(self, token: AccessToken | None) -> bool:
        return token is not None and token.expires_at - self._clock() > MIN_TOKEN_LIFE

    def _margin(self, token: AccessToken) -> float:
        # Short-lived tokens (tests, odd deployments) are refreshed at half their life.
        return min(self._refresh_margin, token.lifetime / 2)

    def access_token(self, *, deadline: float | None) -> str:
        """A valid access token: the cached one, refreshed near expiry, or a new login."""
        token = self.cached()
        if token is not None and token.expires_at - self._clock() > self._margin(token):
            return token.access_token
        if token is not None and self._usable(token):
            # Near expiry: one process refreshes; the others keep using the current token.
            owner = uuid.uuid4().hex
            if not self._store.acquire_lock(LOGIN_LOCK_KEY, owner=owner, ttl=self._lock_ttl):
                return token.access_token
            try:
                current = self.cached()
                if current is not None and (
                    current.access_token != token.access_token
                    or current.expires_at - self._clock() > self._margin(current)
                ):
                    return current.access_token
                try:
                    return self._store_token(self._renew(current, deadline=deadline))
                except PlatformRetryableError as exc:
                    log.info("platform token refresh postponed (%s)", type(exc).__name__)
                    return token.access_token
            finally:
                self._store.release_lock(LOGIN_LOCK_KEY, owner=owner)
        return self._replace(stale=None, deadline=deadline, allow_refresh=True)

    def replace_rejected(self, rejected: str, *, deadline: float | None) -> str:
        """The platform answered 1010005 to `rejected`: a token newer than it (one login)."""
        return self._replace(stale=rejected, deadline=deadline, allow_refresh=False)

    def _replace(self, *, stale: str | None, deadline: float | None, allow_refresh: bool) -> str:
        owner = uuid.uuid4().hex
        while True:
            token = self.cached()
            if self._usable(token) and token is not None and token.access_token != stale:
                return token.access_token
            lock_free = self._store.get(LOGIN_LOCK_KEY) is None
            if lock_free and self._store.acquire_lock(
                LOGIN_LOCK_KEY, owner=owner, ttl=self._lock_ttl
            ):
                try:
                    # Double-check: another process may have replaced it just before.
                    token = self.cached()
                    if self._usable(token) and token is not None and token.access_token != stale:
                        return token.access_token
                    if allow_refresh:
                        return self._store_token(self._renew(token, deadline=deadline))
                    return self._store_token(self._login(deadline))
                finally:
                    self._store.release_lock(LOGIN_LOCK_KEY, owner=owner)
            if deadline is not None and self._monotonic() > deadline:
                raise PlatformThrottled(retry_after=1.0)
            self._sleep(random.uniform(0.03, 0.08))

    def _renew(self, token: AccessToken | None, *, deadline: float | None) -> AccessToken:
        if token is not None and token.refresh_token:
            try:
                return self._refresh(token.refresh_token, deadline)
            except PlatformPermanentError as exc:
                log.info("platform token refresh refused (code=%s); logging in", exc.code)
        return self._login(deadline)

    def _store_token(self, token: AccessToken) -> str:
        value = json.dumps(token.to_json())
        if self._cipher is not None:
            value = self._cipher.encrypt(value)
        self._store.set(TOKEN_KEY, value, ttl=TOKEN_CACHE_SECONDS)
        return token.access_token

    def forget(self) -> None:
        self._store.delete(TOKEN_KEY)
