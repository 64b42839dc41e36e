"""damkit.redact: registered values, URLs, and log records (through httpx's real logger)."""

from __future__ import annotations

import io
import logging
import threading
import uuid

import httpx
import pytest

from damkit.redact import (
    MASK,
    RedactingFilter,
    install_log_redaction,
    redact,
    redact_url,
    register_secret,
    uninstall_log_redaction,
)


def unique(prefix: str = "s") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def test_registered_values_are_masked_longest_first() -> None:
    short = unique("abc")
    long = short + "-and-more"
    register_secret(short)
    register_secret(long)
    assert redact(f"a {long} b {short} c") == f"a {MASK} b {MASK} c"
    assert "and-more" not in redact(long)


def test_short_values_are_ignored() -> None:
    register_secret("xyz")
    register_secret("")
    register_secret(None)  # type: ignore[arg-type]
    assert redact("xyz and xyzzy") == "xyz and xyzzy"


def test_regex_characters_and_url_encoded_forms() -> None:
    value = unique("a+b/c?d") + " e&f"
    register_secret(value)
    assert redact(f"[{value}]") == f"[{MASK}]"
    from urllib.parse import quote, quote_plus

    assert value not in redact_url(f"https://h.example.com/x/{quote(value, safe='')}")
    assert redact_url(f"https://h.example.com/?q={quote_plus(value)}") == f"https://h.example.com/?q={MASK}"


def test_redact_leaves_ordinary_text_alone() -> None:
    text = "token refreshed; basic authentication; see https://h.example.com/a?page=2&tag=Brand"
    assert redact(text) == text


@pytest.mark.parametrize("key", [
    "token", "access_token", "refresh_token", "secret", "client_secret", "app_secret", "code",
    "password", "signature", "sig", "key", "oauth_signature", "X-Amz-Signature",
    "X-Amz-Credential", "X-Amz-Security-Token", "code_verifier", "ACCESS_TOKEN", "x-amz-signature",
])
def test_redact_url_masks_sensitive_query_values(key: str) -> None:
    url = f"https://acme.example.com/api/v4/media?page=2&{key}=QV-{key}-123&tag=Brand%20A"
    assert redact_url(url) == f"https://acme.example.com/api/v4/media?page=2&{key}={MASK}&tag=Brand%20A"


def test_redact_url_fragment_userinfo_and_registered_values() -> None:
    secret = unique("pathsecret")
    register_secret(secret)
    url = f"https://user:hunter22@h.example.com/files/{secret}/x?keyword=k&token=t1#access_token=frag1"
    out = redact_url(url)
    assert out == f"https://user:{MASK}@h.example.com/files/{MASK}/x?keyword=k&token={MASK}#access_token={MASK}"
    # inside a message, as in httpx's exceptions
    msg = "Client error '401 Unauthorized' for url 'http://127.0.0.1:5/?access_token=QUERYSECRET'"
    assert "QUERYSECRET" not in redact_url(msg)
    assert "QUERYSECRET" not in redact(msg)
    assert redact_url("https://h.example.com/a?b=1") == "https://h.example.com/a?b=1"


def test_redact_masks_headers_bearer_and_json() -> None:
    assert "abc.def-123" not in redact("Authorization: Bearer abc.def-123")
    assert "KEYSECRET" not in redact("Headers({'authorization': '[secure]', 'x-api-key': 'KEYSECRET'})")
    out = redact('{"access_token": "AT-1234", "expires_in": 3600, "refresh_token": "RT-1234"}')
    assert "AT-1234" not in out and "RT-1234" not in out and '"expires_in": 3600' in out
    assert "sigval" not in redact('OAuth oauth_consumer_key="ck", oauth_signature="sigval"')


def _capture(logger_name: str | None = None) -> tuple[logging.Logger, io.StringIO, logging.Handler]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    logger = logging.getLogger(logger_name or f"test-redact-{uuid.uuid4().hex[:6]}")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return logger, stream, handler


def test_filter_redacts_message_args_exception_and_extra() -> None:
    secret = unique("filtersecret")
    register_secret(secret)
    logger, stream, handler = _capture()
    handler.addFilter(RedactingFilter())
    logger.info("token is %s, url %s", secret, "https://h.example.com/?code=abc123")
    logger.info("in the format string " + secret)
    try:
        raise RuntimeError(f"failed with {secret}")
    except RuntimeError:
        logger.exception("boom")
    record_holder: list[logging.LogRecord] = []
    handler.addFilter(lambda r: record_holder.append(r) or True)
    logger.warning("retry", extra={"stamina.args": (f"'{secret}'",),
                                   "stamina.kwargs": {"headers": {"Authorization": f"Bearer {secret}"}}})
    out = stream.getvalue()
    assert secret not in out and "abc123" not in out
    assert out.count(MASK) >= 4
    assert "RuntimeError: failed with ********" in out
    rec = record_holder[-1]
    assert getattr(rec, "stamina.args") == (f"'{MASK}'",)
    assert secret not in repr(getattr(rec, "stamina.kwargs"))
    logger.removeHandler(handler)


def test_filter_never_drops_broken_records() -> None:
    logger, stream, handler = _capture()
    handler.addFilter(RedactingFilter())
    handler.handleError = lambda record: None  # type: ignore[method-assign]
    logger.info("%d items", "not a number")  # formatting fails in the handler, not in the filter
    logger.info("fine")
    assert "fine" in stream.getvalue()
    logger.removeHandler(handler)


def test_secret_logged_through_httpx_logger_is_masked() -> None:
    secret = unique("httpxsecret")
    register_secret(secret)
    stream = io.StringIO()
    root_handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(root_handler)
    httpx_logger = logging.getLogger("httpx")
    old_level = httpx_logger.level
    httpx_logger.setLevel(logging.INFO)
    try:
        install_log_redaction()
        install_log_redaction()  # idempotent
        assert root_handler.filters.count(install_log_redaction()) == 1
        assert httpx_logger.filters.count(install_log_redaction()) == 1

        transport = httpx.MockTransport(lambda request: httpx.Response(401))
        with httpx.Client(transport=transport) as client:
            client.get(f"https://acme.example.com/v4/media/{secret}",
                       params={"access_token": "QUERYSECRET", "page": "2"})
        logging.getLogger("httpx").info("direct: %s", secret)
        logging.getLogger("damkit.sync").warning("child logger: %s", secret)
        out = stream.getvalue()
        assert "HTTP Request: GET https://acme.example.com/v4/media/" in out
        assert secret not in out
        assert "QUERYSECRET" not in out
        assert "access_token=********" in out and "page=2" in out
    finally:
        uninstall_log_redaction()
        root.removeHandler(root_handler)
        httpx_logger.setLevel(old_level)
    assert install_log_redaction() not in root_handler.filters


def test_thread_safety() -> None:
    values = [unique(f"thread{i}") for i in range(200)]
    errors: list[BaseException] = []

    def register(chunk: list[str]) -> None:
        try:
            for v in chunk:
                register_secret(v)
                assert redact(f"<{v}>") == f"<{MASK}>"
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=register, args=(values[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert redact(" ".join(values)) == " ".join([MASK] * len(values))
