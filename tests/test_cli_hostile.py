"""Hostile input to serve, replay and the head exchange (issue 27): a bad store URL, an absent or dying broker, an
unreachable or non-http cloud, empty token files; and the upload tokens' friction: every route takes the token, tokens
expire and can be revoked, a revoked key stays revoked, a token file other users may read is refused."""

import hashlib
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from test_cli_errors import recipe
from test_service import broker  # noqa: F401 - the mosquitto fixture
from tiny_checkpoint import onnx_folder, recording
from typer.testing import CliRunner

from syndiag.cli import app
from syndiag.config.run import RunConfig
from syndiag.errors import ConfigError, DataError
from syndiag.registry.signing import TrustStore, generate_key
from syndiag.registry.tokens import check_token, find_token, issue_token, new_token, read_tokens, revoke_tokens
from syndiag.service.net import free_port
from syndiag.service.publisher import confirm

runner = CliRunner()


def flat(result) -> str:
    return " ".join(result.output.split())


def refused(result, *words: str) -> str:
    """The output of a command that must exit 2 with a named error and no traceback, holding every one of ``words``."""
    text = flat(result)
    assert result.exit_code == 2, f"exit {result.exit_code}: {text}\n{result.exception!r}"
    assert "error:" in text and "Traceback" not in result.output, text
    for word in words:
        assert word in text, f"{word!r} not in {text!r}"
    return text


@pytest.mark.parametrize("url, words", [
    ("foo://x", ["database_url 'foo://x'", "unknown database kind 'foo'"]),
    ("not a url", ["database_url 'not a url'", "not a database URL"]),
    ("postgresql://u:secret@127.0.0.1:1/db", ["database_url 'postgresql://u:***@127.0.0.1:1/db'", "Connection refused"]),
    ("sqlite:///{tmp}/a-file/db.sqlite", ["a-file/db.sqlite", "cannot open the store"]),
    ("sqlite:///{tmp}/a-file", ["a-file", "cannot open the store: file is not a database"]),
])
def test_serve_names_a_database_url_it_cannot_open_and_exits_2(tmp_path, url, words):
    (tmp_path / "a-file").write_text("a file, not a folder")
    folder = onnx_folder(tmp_path / "onnx")
    result = runner.invoke(app, ["serve", "--checkpoint", str(folder), "--set", f"database_url={url.format(tmp=tmp_path)}"])
    assert "secret" not in refused(result, *words)


def package(folder: Path) -> Path:
    folder.mkdir()
    (folder / "head.json").write_text("{}")
    (folder / "head.safetensors").write_bytes(b"\0" * 8)
    return folder


def token_file(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    os.chmod(path, mode)
    return path


@pytest.mark.parametrize("url, token, words", [
    ("ftp://cloud", "t" * 43, ["cloud address 'ftp://cloud'", "http:// or https://"]),
    ("cloud", "t" * 43, ["cloud address 'cloud'", "http:// or https://"]),
    ("http://cloud:99999", "t" * 43, ["cloud address 'http://cloud:99999'", "out of range"]),
    ("http://127.0.0.1:{port}", "t" * 43, ["cloud http://127.0.0.1:{port}: cannot reach it"]),
    ("http://127.0.0.1:{port}", "\n  \n", ["token: empty", "syndiag head token"]),
    ("http://127.0.0.1:{port}", "Bearer abc def", ["token: not an upload token"]),
])
def test_head_push_names_an_unusable_cloud_or_token_file_and_exits_2(tmp_path, url, token, words):
    port = free_port()
    arguments = ["head", "push", url.format(port=port), "--package", str(package(tmp_path / "pkg")),
                 "--token-file", str(token_file(tmp_path / "token", token))]
    text = refused(runner.invoke(app, arguments), *(word.format(port=port) for word in words))
    assert "Bearer abc" not in text


def test_head_push_refuses_a_200_that_is_no_head_decision_and_warns_of_a_shared_token_file(tmp_path, monkeypatch):
    monkeypatch.setattr(httpx, "post", lambda url, **kw: httpx.Response(200, json=["not", "a", "decision"]))
    arguments = ["head", "push", "http://cloud:8000", "--package", str(package(tmp_path / "pkg")),
                 "--token-file", str(token_file(tmp_path / "token", "t" * 43, 0o644))]
    text = refused(runner.invoke(app, arguments), "http://cloud:8000: answered 200 without a head decision")
    assert f"warning: {tmp_path / 'token'} is readable by other users (mode 644)" in text


@pytest.mark.parametrize("options, words", [
    (["--speed", "0"], ["--speed must be a positive number, got 0.0"]),
    (["--speed", "-2"], ["--speed must be a positive number, got -2.0"]),
    (["--seconds", "-1"], ["--seconds must be a positive number, got -1.0"]),
    (["--seconds", "0"], ["--seconds must be a positive number, got 0.0"]),
    (["--sensors", "0"], ["--sensors must be 1 or more, got 0"]),
    (["--chunk-s", "nan"], ["--chunk-s must be a positive number, got nan"]),
    (["--port", "0"], ["--port must be 1 to 65535, got 0"]),
    ([], ["MQTT broker 127.0.0.1:{port}: cannot connect", "is it running?"]),
])
def test_replay_names_an_option_out_of_range_or_a_missing_broker_and_exits_2(tmp_path, options, words):
    port = free_port()
    arguments = ["replay", str(recording(tmp_path / "r.npy", 0.5)), "--fs", "12000", "--port", str(port), *options]
    refused(runner.invoke(app, arguments), *(word.format(port=port) for word in words))


def test_replay_stops_with_a_named_error_when_the_broker_dies_mid_stream(tmp_path, broker):  # noqa: F811
    file = recording(tmp_path / "r.npy", 2.0)
    command = [str(Path(sys.executable).with_name("syndiag")), "replay", str(file), "--fs", "12000", "--port", str(broker["port"]),
               "--seconds", "60"]
    import threading

    import paho.mqtt.client as mqtt

    streaming = threading.Event()
    listener = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="replay-listener")
    listener.on_message = lambda *_: streaming.set()
    listener.connect("127.0.0.1", broker["port"])
    listener.subscribe("#")
    listener.loop_start()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert streaming.wait(60), "replay published nothing"  # connected and streaming, however slow the machine
        assert process.poll() is None, process.communicate()
        broker["process"].kill()
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
        listener.loop_stop()
    assert process.returncode == 2, stderr
    assert f"error: MQTT broker 127.0.0.1:{broker['port']}: lost after" in " ".join(stderr.split()) and "Traceback" not in stderr


class Unacknowledged:
    def __init__(self, failure: Exception | None = None) -> None:
        self.failure = failure

    def wait_for_publish(self, timeout: float) -> None:
        if self.failure is not None:
            raise self.failure

    def is_published(self) -> bool:
        return False


def test_a_publish_the_broker_never_acknowledges_or_refuses_is_a_named_error():
    with pytest.raises(ConfigError, match=r"MQTT broker h:1: no acknowledgement within 0.1 s after 40 chunk\(s\)"):
        confirm(Unacknowledged(), "h:1", 40, timeout_s=0.1)
    with pytest.raises(ConfigError, match=r"MQTT broker h:1: lost after 3 chunk\(s\) \(Message is not queued"):
        confirm(Unacknowledged(ValueError("Message is not queued due to ERR_QUEUE_SIZE")), "h:1", 3)


class Disconnected:
    def is_connected(self) -> bool:
        return False


def test_a_connection_closed_while_waiting_for_the_acknowledgement_is_named_lost_before_the_timeout():
    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"MQTT broker h:1: lost after 7 chunk\(s\) \(connection closed\)"):
        confirm(Unacknowledged(), "h:1", 7, timeout_s=30, client=Disconnected())
    assert time.monotonic() - started < 5


def cloud(tmp_path):
    config = RunConfig.from_yaml(Path(recipe(tmp_path)))
    from syndiag.service.app import create_app
    from syndiag.service.heads_api import tokens_file

    return config, tokens_file(config), lambda: TestClient(create_app(None, None, config))


def test_every_head_route_takes_the_upload_token_and_an_expired_one_is_named(tmp_path):
    _, path, client = cloud(tmp_path)
    token = new_token(path)
    stale, entry = issue_token(path, days=1, now=datetime.now(timezone.utc) - timedelta(days=2))
    http = client()
    assert http.get("/heads").status_code == 401
    assert http.get("/heads", headers={"Authorization": "Bearer " + "x" * 43}).status_code == 401
    assert http.post("/heads/rollback", params={"version": "v0000"}).status_code == 401
    answer = http.get("/heads", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 404 and "no head registry" in answer.json()["detail"]  # let through: the registry is empty
    expired = http.get("/heads", headers={"Authorization": f"Bearer {stale}"})
    assert expired.status_code == 401
    assert expired.json()["detail"] == (f"upload token {entry.token_id} expired at {entry.expires:%Y-%m-%dT%H:%M:%SZ}; "
                                        "ask the cloud for a new one (syndiag head token)")


def test_tokens_expire_and_tokens_written_before_expiries_stay_valid(tmp_path):
    path = tmp_path / "tokens.sha256"
    old = "o" * 43
    token_file(path, hashlib.sha256(old.encode()).hexdigest() + "\n")
    now = datetime(2030, 1, 1, tzinfo=timezone.utc)
    token, entry = issue_token(path, days=7, label="edge-3", now=now)
    assert path.read_text().splitlines()[1] == f"{entry.digest};expires=2030-01-08T00:00:00Z;label=edge-3"
    assert check_token(path, token, now=now + timedelta(days=6)) and not check_token(path, token, now=now + timedelta(days=7))
    assert check_token(path, old, now=now + timedelta(days=10_000)) and find_token(path, old).expires is None
    for days in (0, -1, 3651):
        with pytest.raises(ConfigError, match=f"a token lives 1 to 3650 days, not {days}"):
            issue_token(path, days=days)
    with pytest.raises(ConfigError, match="label 'a b': use 1 to 64 letters"):
        issue_token(path, label="a b")


def test_head_token_days_label_list_and_revoke_by_label_or_id(tmp_path):
    config, path, _ = cloud(tmp_path)
    head_token = ["head", "token", "--config", recipe(tmp_path)]
    made = runner.invoke(app, [*head_token, "--days", "7", "--label", "edge-3"])
    assert made.exit_code == 0, made.output
    token = made.output.strip().splitlines()[-1]
    entry = find_token(path, token)
    assert f"token {entry.token_id} (edge-3), valid until {entry.expires:%Y-%m-%d %H:%M} UTC" in flat(made)
    assert timedelta(days=6, hours=23) < entry.expires - datetime.now(timezone.utc) <= timedelta(days=7)
    second = runner.invoke(app, head_token).output.strip().splitlines()[-1]
    with open(path, "a") as handle:
        handle.write(hashlib.sha256(b"from before expiries").hexdigest() + "\n")
    listed = flat(runner.invoke(app, [*head_token, "--list"]))
    assert f"{entry.token_id} edge-3 valid until {entry.expires:%Y-%m-%d %H:%M} UTC" in listed
    assert "no expiry (made before tokens expired: revoke it)" in listed

    assert f"revoked 1 token(s): {entry.token_id} (edge-3)" in flat(runner.invoke(app, [*head_token, "--revoke", "edge-3"]))
    assert not check_token(path, token) and check_token(path, second)
    second_id = find_token(path, second).token_id
    assert f"revoked 1 token(s): {second_id}" in flat(runner.invoke(app, [*head_token, "--revoke", second_id[:6]]))
    assert not check_token(path, second) and len(read_tokens(path)) == 1
    refused(runner.invoke(app, [*head_token, "--revoke", "edge-9"]), "no upload token has label or id 'edge-9'", "syndiag head token --list")
    refused(runner.invoke(app, [*head_token, "--days", "0"]), "a token lives 1 to 3650 days, not 0")
    refused(runner.invoke(app, [*head_token, "--list", "--revoke", "x"]), "--revoke and --list do not go together")


def test_an_id_prefix_shared_by_two_tokens_revokes_neither(tmp_path):
    path = token_file(tmp_path / "tokens.sha256", "".join("abcdef" + str(n) * 58 + "\n" for n in (1, 2)))
    with pytest.raises(ConfigError, match=r"'abcdef' starts 2 token ids \(abcdef11, abcdef22\): give more digits"):
        revoke_tokens(path, "abcdef")
    assert len(read_tokens(path)) == 2


def test_a_token_file_other_users_may_read_is_refused_like_ssh_does(tmp_path):
    config, path, client = cloud(tmp_path)
    token = new_token(path)
    http = client()
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match=f"{path}: upload token digests readable or writable by other users \\(mode 644\\); chmod 600"):
        check_token(path, token)
    answer = http.get("/heads", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 503 and str(path) not in answer.text and "token file is refused" in answer.json()["detail"]
    with pytest.raises(ConfigError, match="mode 644"):
        client()  # the cloud does not start
    refused(runner.invoke(app, ["head", "token", "--list", "--config", recipe(tmp_path)]), f"{path}:", "(mode 644)")


def test_head_trust_refuses_a_revoked_key_unless_reinstated(tmp_path):
    config, _, _ = cloud(tmp_path)
    keys = generate_key(tmp_path / "edge-keys")
    store = TrustStore(Path(config.output_dir) / "heads" / "trusted")
    store.trust(keys.public)
    store.revoke(keys.key_id)
    trust = ["head", "trust", str(keys.public), "--config", recipe(tmp_path)]
    refused(runner.invoke(app, trust), f"key {keys.key_id} was revoked", "--reinstate")
    assert store.trusted() == [] and store.revoked() == [keys.key_id]
    with pytest.raises(DataError, match="was revoked"):
        store.trust(keys.public)
    result = runner.invoke(app, [*trust, "--reinstate"])
    assert result.exit_code == 0 and f"trusted key {keys.key_id}" in result.output
    assert store.trusted() == [keys.key_id] and store.revoked() == []
