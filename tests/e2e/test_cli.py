"""
The CLI end to end (docs/cli.md): workspaces, secrets and tokens commands,
table and `-o json` output, every way to pass a value, reveal, the
WORKSPACE/NAME form, --help everywhere, exit codes, and that no token ever
shows up in the CLI's output (server.cli() checks every run for known tokens).
"""
import json
import re

import pytest

from conftest import (METADATA_KEYS, TOKEN_ANYWHERE_RE, TOKEN_RE, closed_port_url, fresh_source,
                      run_cli, secret_value, uniq)


def ok(res):
    assert res.returncode == 0, \
        f"exit {res.returncode}\nstdout: {res.stdout[:500]}\nstderr: {res.stderr[:500]}"
    return res


def js(res):
    """Exit 0 and stdout parsed as JSON."""
    ok(res)
    try:
        return json.loads(res.stdout)
    except ValueError:
        pytest.fail(f"stdout is not JSON: {res.stdout[:500]!r}")


def fails(res, code):
    assert res.returncode == code, \
        f"expected exit {code}, got {res.returncode}\nstdout: {res.stdout[:500]}\n" \
        f"stderr: {res.stderr[:500]}"
    assert res.stderr.startswith("tresor: "), f"error not on stderr as 'tresor: ...': {res.stderr!r}"
    return res


def no_value(res, *values):
    for v in values:
        assert v not in res.stdout and v not in res.stderr, "CLI output contains a stored value"


# ---------------------------------------------------------------- --help

HELP = [
    [], ["server"],
    ["workspaces"], ["workspaces", "create"], ["workspaces", "list"], ["workspaces", "get"],
    ["workspaces", "delete"],
    ["secrets"], ["secrets", "create"], ["secrets", "list"], ["secrets", "get"],
    ["secrets", "update"], ["secrets", "set"], ["secrets", "delete"], ["secrets", "reveal"],
    ["tokens"], ["tokens", "create"], ["tokens", "list"], ["tokens", "delete"],
]


@pytest.mark.parametrize("words", HELP, ids=[" ".join(w) or "tresor" for w in HELP])
def test_help_works_for_every_command_and_verb_without_a_server(tresor_bin, tmp_path, words):
    res = run_cli(tresor_bin, [*words, "--help"],
                  env={"TRESOR_ADDR": closed_port_url()}, cwd=tmp_path)
    assert res.returncode == 0, f"exit {res.returncode}: {res.stderr[:300]}"
    assert res.stdout.strip(), "help printed nothing on stdout"
    if words:
        assert words[-1] in res.stdout, f"help for {' '.join(words)} does not mention {words[-1]!r}"
    if words[:1] == ["secrets"] and words[1:] in (["create"], ["set"], ["update"]):
        for opt in ("--value", "--from-file", "--data"):
            assert opt in res.stdout


# ---------------------------------------------------------------- workspaces

def test_workspaces_create_list_get_delete_in_table_form(server):
    ws = uniq("cliws")
    res = ok(server.cli("workspaces", "create", ws))
    assert ws in res.stdout
    res = ok(server.cli("workspaces", "list"))
    assert ws in res.stdout and "default" in res.stdout
    assert not res.stdout.lstrip().startswith(("{", "[")), "table output looks like JSON"
    res = ok(server.cli("workspaces", "get", ws))
    assert ws in res.stdout
    ok(server.cli("workspaces", "delete", ws))
    assert server.get(f"/v2/workspaces/{ws}").status_code == 404


def test_workspaces_json_output_is_the_servers_json(server):
    ws = uniq("cliws")
    created = js(server.cli("-o", "json", "workspaces", "create", ws))
    assert created["name"] == ws and created["created_by"] == "admin"
    listed = js(server.cli("workspaces", "list", "-o", "json"))
    assert ws in [w["name"] for w in listed["data"]]
    got = js(server.cli("workspaces", "get", ws, "-o", "json"))
    assert got == server.get(f"/v2/workspaces/{ws}").json()


def test_workspaces_delete_with_secrets_needs_force(server):
    ws = server.create_workspace()
    server.create_secret(ws, name="inside")
    fails(server.cli("workspaces", "delete", ws), 3)
    assert server.get(f"/v2/workspaces/{ws}").status_code == 200
    ok(server.cli("workspaces", "delete", ws, "--force"))
    assert server.get(f"/v2/workspaces/{ws}").status_code == 404


def test_workspaces_errors_have_exit_codes(server):
    ws = server.create_workspace()
    res = fails(server.cli("workspaces", "create", ws), 3)
    assert f"Workspace '{ws}' already exists" in res.stderr
    res = fails(server.cli("workspaces", "get", "no-such-ws-e2e"), 2)
    assert "Workspace 'no-such-ws-e2e' not found" in res.stderr
    fails(server.cli("workspaces", "create", "Bad_Name"), 5)
    fails(server.cli("workspaces", "delete", "default"), 3)


# ---------------------------------------------------------------- secrets: values in

def test_create_with_value_then_reveal_prints_it(server):
    name, value = uniq("cli"), secret_value("cli")
    res = ok(server.cli("secrets", "create", name, "--value", value))
    assert name in res.stdout
    no_value(res, value)
    res = ok(server.cli("secrets", "reveal", name))
    assert res.stdout == value + "\n"
    assert server.access("default", name)["value"] == value


def test_create_with_value_from_stdin(server):
    name, value = uniq("cli"), "stdin-ünï-" + secret_value("stdin")
    res = ok(server.cli("secrets", "create", name, "--value", "-", input=value))
    no_value(res, value)
    assert server.access("default", name)["value"] == value


def test_create_from_file_keeps_bytes_and_trailing_newline(server, tmp_path):
    name = uniq("cli")
    content = "-----BEGIN KEY-----\n" + secret_value("file") + "\nünï\n-----END KEY-----\n"
    f = tmp_path / "secret.txt"
    f.write_bytes(content.encode("utf-8"))
    res = ok(server.cli("secrets", "create", name, "--from-file", str(f)))
    no_value(res, content.strip())
    assert server.access("default", name)["value"] == content
    assert ok(server.cli("secrets", "reveal", name)).stdout == content + "\n"


def test_create_with_data_pairs_then_reveal_prints_key_value_lines(server):
    name = uniq("cli")
    data = {"access_key_id": "AKIA" + uniq("k").upper().replace("-", ""),
            "secret_access_key": secret_value("s3"), "region": "eu-west-1"}
    args = ["secrets", "create", name, "--type", "s3"]
    for k, v in data.items():
        args += ["--data", f"{k}={v}"]
    res = ok(server.cli(*args))
    no_value(res, data["secret_access_key"], data["access_key_id"])
    assert server.access("default", name)["data"] == data
    res = ok(server.cli("secrets", "reveal", name))
    assert sorted(res.stdout.splitlines()) == sorted(f"{k}={v}" for k, v in data.items())
    assert res.stdout.endswith("\n")


def test_data_value_may_contain_equals_signs(server):
    name = uniq("cli")
    value = "a=b=c-" + secret_value("eq")
    ok(server.cli("secrets", "create", name, "--data", f"conn={value}"))
    assert server.access("default", name)["data"] == {"conn": value}


def test_data_from_file_and_from_stdin_and_literal_together(server, tmp_path):
    name = uniq("cli")
    from_file = "line1\nline2-" + secret_value("atfile")
    from_stdin = "stdin-" + secret_value("dash")
    literal = secret_value("lit")
    f = tmp_path / "key.pem"
    f.write_text(from_file)
    res = ok(server.cli("secrets", "create", name, "--data", f"pem=@{f}",
                        "--data", "tok=-", "--data", f"plain={literal}", input=from_stdin))
    no_value(res, from_file, from_stdin, literal)
    assert server.access("default", name)["data"] == \
        {"pem": from_file, "tok": from_stdin, "plain": literal}


def test_two_data_keys_from_stdin_is_refused(server):
    name = uniq("cli")
    res = server.cli("secrets", "create", name, "--data", "a=-", "--data", "b=-", input="x" * 10)
    assert res.returncode in (1, 5), res
    assert res.stderr.startswith("tresor: ")
    assert server.get(f"/v2/workspaces/default/secrets/{name}").status_code == 404


def test_from_file_that_does_not_exist_fails_without_creating(server, tmp_path):
    name = uniq("cli")
    res = server.cli("secrets", "create", name, "--from-file", str(tmp_path / "missing"))
    assert res.returncode != 0
    assert res.stderr.startswith("tresor: ")
    assert server.get(f"/v2/workspaces/default/secrets/{name}").status_code == 404


# ---------------------------------------------------------------- secrets: other verbs

def test_secrets_get_prints_metadata_never_the_value(server):
    value = secret_value("get")
    name = server.create_secret(name=uniq("cli"), value=value, description="cli get")["name"]
    res = ok(server.cli("secrets", "get", name))
    assert name in res.stdout
    no_value(res, value)
    meta = js(server.cli("secrets", "get", name, "-o", "json"))
    assert set(meta) - {"warnings"} == METADATA_KEYS
    assert (meta["name"], meta["description"], meta["keys"]) == (name, "cli get", ["value"])
    assert value not in json.dumps(meta)


def test_secrets_list_table_and_json_with_filters(server):
    ws = server.create_workspace()
    server.create_secret(ws, name="one-hf", type="huggingface",
                         data={"token": "hf_" + secret_value("l1")}, tags=["ml"])
    server.create_secret(ws, name="two-op", value=secret_value("l2"), description="Second one")
    server.create_secret(ws, name="three-op", value=secret_value("l3"), project="proj")
    res = ok(server.cli("secrets", "list", "-w", ws))
    for n in ("one-hf", "two-op", "three-op"):
        assert n in res.stdout
    page = js(server.cli("secrets", "list", "-w", ws, "-o", "json"))
    assert sorted(i["name"] for i in page["data"]) == ["one-hf", "three-op", "two-op"]
    assert page["pagination"]["total_results"] == 3
    names = lambda *a: [i["name"] for i in js(server.cli("secrets", "list", "-w", ws,
                                                           "-o", "json", *a))["data"]]
    assert names("--type", "huggingface") == ["one-hf"]
    assert names("--tag", "ml") == ["one-hf"]
    assert names("--search", "SECOND") == ["two-op"]
    assert names("--project", "proj") == ["three-op"]
    assert names("--sort", "-name") == ["two-op", "three-op", "one-hf"]
    assert names("--page-size", "1", "--page", "2") == ["three-op"]
    assert names("--created-by", "admin", "--visibility", "private") == \
        ["one-hf", "three-op", "two-op"]


def test_update_description_keeps_version_and_update_value_bumps_it(server):
    name = uniq("cli")
    v1, v2 = secret_value("u1"), secret_value("u2")
    ok(server.cli("secrets", "create", name, "--value", v1))
    meta = js(server.cli("secrets", "update", name, "--description", "changed", "-o", "json"))
    assert (meta["version"], meta["description"]) == (1, "changed")
    meta = js(server.cli("secrets", "update", name, "--value", v2, "-o", "json"))
    assert meta["version"] == 2
    assert server.access("default", name)["value"] == v2


def test_update_tags_and_visibility(server):
    name = server.create_secret(name=uniq("cli"))["name"]
    meta = js(server.cli("secrets", "update", name, "--tag", "a", "--tag", "b:c",
                         "--visibility", "public", "-o", "json"))
    assert sorted(meta["tags"]) == ["a", "b:c"] and meta["visibility"] == "public"


def test_set_creates_then_replaces(server):
    name = uniq("cli")
    v1, v2 = secret_value("set1"), secret_value("set2")
    meta = js(server.cli("secrets", "set", name, "--value", v1, "-o", "json"))
    assert meta["version"] == 1
    meta = js(server.cli("secrets", "set", name, "--value", v2, "-o", "json"))
    assert meta["version"] == 2
    assert server.access("default", name)["value"] == v2


def test_create_with_all_options(server):
    name = uniq("cli")
    meta = js(server.cli("secrets", "create", name, "--value", secret_value("opts"),
                         "--type", "generic", "--description", "full options",
                         "--tag", "t1", "--tag", "t2", "--visibility", "public",
                         "--cluster", "gpu-1", "--expires-in", "3600", "-o", "json"))
    assert meta["type"] == "opaque"
    assert meta["description"] == "full options"
    assert sorted(meta["tags"]) == ["t1", "t2"]
    assert meta["visibility"] == "public"
    assert (meta["cluster"], meta["project"]) == ("gpu-1", None)
    assert meta["expires_at"] is not None


def test_delete_then_get_is_not_found(server):
    name = server.create_secret(name=uniq("cli"))["name"]
    ok(server.cli("secrets", "delete", name))
    res = fails(server.cli("secrets", "get", name), 2)
    assert f"Secret 'default/{name}' not found" in res.stderr
    fails(server.cli("secrets", "delete", name), 2)
    fails(server.cli("secrets", "reveal", name), 2)


def test_reveal_json_is_the_servers_access_json(server):
    name, value = uniq("cli"), secret_value("rj")
    server.create_secret(name=name, value=value)
    got = js(server.cli("secrets", "reveal", name, "-o", "json"))
    assert got == {"name": name, "workspace": "default", "value": value}
    name2 = uniq("cli")
    data = {"k1": secret_value("d1"), "k2": "ünï-" + secret_value("d2")}
    server.create_secret(name=name2, type="opaque", data=data)
    got = js(server.cli("-o", "json", "secrets", "reveal", name2))
    assert got == {"name": name2, "workspace": "default", "data": data}


def test_reveal_prints_unicode_value_exactly(server):
    name, value = uniq("cli"), "秘密-пароль-🔑-" + secret_value("uni")
    server.create_secret(name=name, value=value)
    res = ok(server.cli("secrets", "reveal", name))
    assert res.stdout_bytes == (value + "\n").encode("utf-8")


def test_workspace_slash_name_form_and_workspace_option_agree(server):
    ws = server.create_workspace()
    name, value = uniq("cli"), secret_value("wsform")
    ok(server.cli("secrets", "create", f"{ws}/{name}", "--value", value))
    meta = server.get(f"/v2/workspaces/{ws}/secrets/{name}").json()
    assert meta["workspace"] == ws
    assert server.get(f"/v2/workspaces/default/secrets/{name}").status_code == 404
    assert js(server.cli("secrets", "get", f"{ws}/{name}", "-o", "json"))["workspace"] == ws
    assert js(server.cli("secrets", "get", name, "-w", ws, "-o", "json"))["workspace"] == ws
    assert js(server.cli("secrets", "get", name, "--workspace", ws, "-o", "json"))["name"] == name
    assert ok(server.cli("secrets", "reveal", f"{ws}/{name}")).stdout == value + "\n"
    fails(server.cli("secrets", "get", name), 2)  # not in default
    ok(server.cli("secrets", "delete", f"{ws}/{name}"))
    assert server.get(f"/v2/workspaces/{ws}/secrets/{name}").status_code == 404


def test_project_and_cluster_options_address_scoped_secrets(server):
    ws = server.create_workspace()
    vw, vp, vc = secret_value("w"), secret_value("p"), secret_value("c")
    ok(server.cli("secrets", "create", f"{ws}/same", "--value", vw))
    ok(server.cli("secrets", "create", f"{ws}/same", "--value", vp, "--project", "p1"))
    ok(server.cli("secrets", "create", f"{ws}/same", "--value", vc, "--cluster", "c1"))
    assert ok(server.cli("secrets", "reveal", f"{ws}/same")).stdout == vw + "\n"
    assert ok(server.cli("secrets", "reveal", f"{ws}/same", "--project", "p1")).stdout == vp + "\n"
    assert ok(server.cli("secrets", "reveal", f"{ws}/same", "--cluster", "c1")).stdout == vc + "\n"
    meta = js(server.cli("secrets", "get", f"{ws}/same", "--project", "p1", "-o", "json"))
    assert meta["project"] == "p1"
    ok(server.cli("secrets", "delete", f"{ws}/same", "--cluster", "c1"))
    assert server.get(f"/v2/workspaces/{ws}/secrets/same?cluster=c1").status_code == 404
    assert server.access(ws, "same")["value"] == vw


# ---------------------------------------------------------------- tokens

def test_tokens_create_table_shows_id_and_token_once(server):
    res = ok(server.cli("tokens", "create", "--description", "cli-table", check_leaks=False))
    found = TOKEN_ANYWHERE_RE.findall(res.stdout)
    assert len(found) == 1, res.stdout
    tok = found[0]
    assert server.token not in res.stdout
    server.track_token(tok)
    listed = server.get("/v2/tokens").json()["data"]
    mine = [t for t in listed if t["description"] == "cli-table"]
    assert mine and mine[-1]["id"] in res.stdout
    assert server.get("/v2/workspaces", token=tok).status_code == 200


def test_tokens_create_json_list_and_delete(server):
    made = js(server.cli("tokens", "create", "--expires-in", "3600", "--description", "cli-json",
                         "--principal", "admin", "-o", "json", check_leaks=False))
    assert TOKEN_RE.match(made["token"])
    assert made["principal"] == "admin" and made["description"] == "cli-json"
    assert made["expires_at"] is not None
    server.track_token(made["token"])
    res = ok(server.cli("tokens", "list"))
    assert made["id"] in res.stdout
    assert "trs_" not in res.stdout
    listed = js(server.cli("tokens", "list", "-o", "json"))
    assert made["id"] in [t["id"] for t in listed["data"]]
    assert "token" not in json.dumps([sorted(t) for t in listed["data"]])
    ok(server.cli("tokens", "delete", made["id"]))
    assert server.get("/v2/workspaces", token=made["token"],
                      source=fresh_source()).status_code == 401
    fails(server.cli("tokens", "delete", made["id"]), 2)


def test_cli_works_with_a_minted_token_in_the_environment(server):
    made = server.post("/v2/tokens", json={"description": "env"}).json()
    res = ok(server.cli("workspaces", "list", env={"TRESOR_TOKEN": made["token"]}))
    assert "default" in res.stdout


# ---------------------------------------------------------------- credentials

def test_token_file_option_is_used(server, tmp_path):
    f = tmp_path / "tok"
    f.write_text(server.token + "\n")
    f.chmod(0o600)
    res = ok(server.cli("--token-file", str(f), "workspaces", "list",
                        env={"TRESOR_TOKEN": None}))
    assert "default" in res.stdout
    # also after the command, like every global option
    ok(server.cli("workspaces", "list", "--token-file", str(f), env={"TRESOR_TOKEN": None}))


def test_token_falls_back_to_the_data_dirs_admin_token(server, tmp_path):
    res = ok(server.cli("workspaces", "list",
                        env={"TRESOR_TOKEN": None, "TRESOR_DATA_DIR": str(server.data_dir)},
                        cwd=tmp_path))
    assert "default" in res.stdout


def test_token_falls_back_to_tresor_data_in_the_working_directory(server, tmp_path):
    d = tmp_path / "tresor-data"
    d.mkdir()
    (d / "admin.token").write_text(server.token + "\n")
    (d / "admin.token").chmod(0o600)
    res = ok(server.cli("workspaces", "list", env={"TRESOR_TOKEN": None}, cwd=tmp_path))
    assert "default" in res.stdout


def test_without_any_token_is_denied(server, tmp_path):
    res = fails(server.cli("workspaces", "list", env={"TRESOR_TOKEN": None}, cwd=tmp_path), 4)
    assert "default" not in res.stdout


@pytest.mark.parametrize("bad", ["trs_" + "Z" * 43, "garbage-token-text"])
def test_bad_token_exits_4_and_is_not_echoed(server, tmp_path, bad):
    res = fails(server.cli("workspaces", "list", env={"TRESOR_TOKEN": bad}), 4)
    assert bad not in res.stdout + res.stderr
    f = tmp_path / "bad"
    f.write_text(bad)
    res = fails(server.cli("--token-file", str(f), "secrets", "list", env={"TRESOR_TOKEN": None}), 4)
    assert bad not in res.stdout + res.stderr


@pytest.mark.parametrize("option", ["--token", "--tok"])
def test_token_is_not_accepted_on_the_command_line(server, option):
    """docs/cli.md: tokens are never accepted on the command line. An option
    that looks like one is a usage error (1), and the text after it is not
    echoed (it is a token). getopt_long's prefix matching would otherwise
    take `--token` for `--token-file` and print the token as a file name."""
    res = server.cli(option, server.token, "workspaces", "list", check_leaks=False)
    assert server.token not in res.stdout + res.stderr, \
        f"the token given with {option} is echoed: {res.stderr.strip()!r}"
    assert res.returncode == 1, f"exit {res.returncode}: {res.stderr.strip()!r}"
    assert "default" not in res.stdout


def test_addr_option_overrides_the_environment(server):
    res = ok(server.cli("--addr", server.url, "workspaces", "list",
                        env={"TRESOR_ADDR": closed_port_url()}))
    assert "default" in res.stdout
    res = ok(server.cli("workspaces", "list", "--addr", server.url,
                        env={"TRESOR_ADDR": closed_port_url()}))
    assert "default" in res.stdout


# ---------------------------------------------------------------- exit codes

@pytest.mark.parametrize("args", [
    ["frobnicate"],
    ["secrets", "frobnicate"],
    ["secrets", "list", "--bogus-option"],
    ["secrets", "get"],
    ["secrets", "reveal"],
    ["workspaces", "create"],
    ["workspaces", "get"],
    ["tokens", "delete"],
    ["-o", "yaml", "workspaces", "list"],
    ["secrets", "create", "x-e2e-usage", "--value"],
], ids=lambda a: " ".join(a))
def test_usage_errors_exit_1(server, args):
    res = server.cli(*args)
    assert res.returncode == 1, f"exit {res.returncode}: {res.stderr[:300]}"
    assert res.stderr.strip(), "usage error printed nothing on stderr"
    assert server.get("/v2/workspaces/default/secrets/x-e2e-usage").status_code == 404


def test_not_found_exits_2(server):
    fails(server.cli("secrets", "get", uniq("missing")), 2)
    fails(server.cli("secrets", "list", "-w", uniq("nows")), 2)


def test_conflict_exits_3(server):
    name = server.create_secret(name=uniq("cli"))["name"]
    res = fails(server.cli("secrets", "create", name, "--value", secret_value()), 3)
    assert f"Secret 'default/{name}' already exists" in res.stderr


def test_invalid_input_exits_5_and_does_not_echo_the_value(server):
    value = secret_value("inv")
    res = fails(server.cli("secrets", "create", "a b", "--value", value), 5)
    no_value(res, value)
    res = fails(server.cli("secrets", "create", uniq("cli"), "--value", value,
                           "--visibility", "nope"), 5)
    no_value(res, value)
    res = fails(server.cli("secrets", "create", uniq("cli"), "--type", "huggingface",
                           "--data", f"token=hf_ {value}"), 5)
    no_value(res, value)


def test_too_large_value_exits_5(server, tmp_path):
    f = tmp_path / "big"
    f.write_bytes(b"L" * (64 * 1024 + 1))
    name = uniq("cli")
    fails(server.cli("secrets", "create", name, "--from-file", str(f)), 5)
    assert server.get(f"/v2/workspaces/default/secrets/{name}").status_code == 404


@pytest.mark.parametrize("how", ["option", "env"])
def test_unreachable_server_exits_6_without_leaking_the_token(server, how):
    url = closed_port_url()
    if how == "option":
        res = server.cli("--addr", url, "workspaces", "list")
    else:
        res = server.cli("secrets", "list", env={"TRESOR_ADDR": url})
    fails(res, 6)
    assert server.token not in res.stderr


def test_no_cli_output_contains_the_admin_token(server, tmp_path):
    """A sweep over many commands, successful and failing; server.cli()
    asserts the absence of every known token on each one."""
    ws = uniq("sweep")
    name = uniq("s")
    runs = [
        ("workspaces", "create", ws), ("workspaces", "list"), ("workspaces", "get", ws),
        ("secrets", "create", f"{ws}/{name}", "--value", secret_value()),
        ("secrets", "list", "-w", ws), ("secrets", "get", f"{ws}/{name}", "-o", "json"),
        ("secrets", "reveal", f"{ws}/{name}"), ("tokens", "list"), ("tokens", "list", "-o", "json"),
        ("secrets", "get", "nope-nope"), ("workspaces", "create", "BAD"),
        ("secrets", "delete", f"{ws}/{name}"), ("workspaces", "delete", ws),
    ]
    for args in runs:
        res = server.cli(*args)
        assert server.token not in res.stdout + res.stderr
        assert not re.search(re.escape(server.token[4:20]), res.stdout + res.stderr)
