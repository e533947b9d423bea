"""The filesystem tool server, and the official npm one as its reference: same tests, both pass.

Every behavioural test runs twice over stdio with the official Python client: against
``hive-mcp tool-server filesystem`` ("hive") and against
``@modelcontextprotocol/server-filesystem`` under node ("official"). The npm package is
installed once into the pytest cache, as in test_foreign_client.py; only that install
touches the network. Where the two servers word an error differently the tests assert
what both share: an error result, the words "Access denied", and nothing changed outside.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import sys
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp_types import CallToolResult

from hive_mcp.toolservers import filesystem
from tests.test_foreign_client import _cache_folder, _locked, install_npm_manifest

# The first run installs the npm package; later runs take seconds.
pytestmark = [pytest.mark.anyio, pytest.mark.timeout(240)]

OFFICIAL = "@modelcontextprotocol/server-filesystem"
OFFICIAL_VERSION = "2026.8.31"
SECRET = "outside the roots\n"

# The drop-in contract: tool -> (argument names, required ones), as the official server has them.
COMMON_TOOLS = {
    "read_text_file": ({"path", "head", "tail"}, {"path"}),
    "read_file": ({"path", "head", "tail"}, {"path"}),
    "read_multiple_files": ({"paths"}, {"paths"}),
    "write_file": ({"path", "content"}, {"path", "content"}),
    "edit_file": ({"path", "edits", "dryRun"}, {"path", "edits"}),
    "create_directory": ({"path"}, {"path"}),
    "list_directory": ({"path"}, {"path"}),
    "move_file": ({"source", "destination"}, {"source", "destination"}),
    "search_files": ({"path", "pattern", "excludePatterns"}, {"path", "pattern"}),
    "get_file_info": ({"path"}, {"path"}),
    "list_allowed_directories": (set(), set()),
    "list_directory_with_sizes": ({"path", "sortBy"}, {"path"}),
    "directory_tree": ({"path", "excludePatterns"}, {"path"}),
    "read_media_file": ({"path"}, {"path"}),
}

Command = Callable[..., list[str]]  # (root, *options) -> argv of a stdio server


def _install_official(folder: Path, npm: str) -> None:
    """npm install the pinned server into `folder`, unless that exact install is there."""
    manifest = json.dumps(
        {
            "name": "hive-mcp-official-fs",
            "private": True,
            "dependencies": {OFFICIAL: OFFICIAL_VERSION},
        }
    )
    install_npm_manifest(folder, npm, manifest, f"{OFFICIAL}@{OFFICIAL_VERSION}")


@pytest.fixture(scope="module")
def official_server(pytestconfig: pytest.Config) -> Command:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail(
            "node and npm (Node.js 20+) must be on PATH to test against the official server"
        )
    folder = _cache_folder(pytestconfig) / "server-filesystem"
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder / ".lock"):
        _install_official(folder, npm)
    script = folder / "node_modules" / OFFICIAL / "dist" / "index.js"
    return lambda root, *options: [node, str(script), *options, str(root)]


def hive_server(root: Path, *options: str) -> list[str]:
    return [sys.executable, "-m", "hive_mcp", "tool-server", "filesystem", *options, str(root)]


@pytest.fixture(params=["hive", "official"])
def server(request: pytest.FixtureRequest) -> Command:
    if request.param == "official":  # only then is node needed
        official: Command = request.getfixturevalue("official_server")
        return official
    return hive_server


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "root").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text(SECRET)
    return tmp_path / "root"


@asynccontextmanager
async def connect(argv: list[str], within: float = 60) -> AsyncIterator[Client]:
    env = {"PATH": os.environ["PATH"], "PYTHONWARNINGS": "error"}
    with anyio.fail_after(within):
        async with Client(StdioServerParameters(command=argv[0], args=argv[1:], env=env)) as c:
            yield c


async def ok(client: Client, tool: str, **arguments: object) -> str:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, f"{tool} failed: {text_of(result)}"
    # Both servers also send the text as structured content.
    assert result.structured_content == {"content": text_of(result)}
    return text_of(result)


async def refused(client: Client, tool: str, **arguments: object) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error, f"{tool} should have failed: {text_of(result)}"
    return text_of(result)


def text_of(result: CallToolResult) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


def names(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


# -- behaviour shared by both servers -------------------------------------------------


async def test_both_servers_offer_the_common_tools_with_the_same_arguments(
    server: Command, root: Path
) -> None:
    async with connect(server(root)) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    for name, (arguments, required) in COMMON_TOOLS.items():
        schema = tools[name].input_schema
        assert set(schema.get("properties", {})) == arguments, name
        assert set(schema.get("required", [])) == required, name
    edit_items = tools["edit_file"].input_schema["properties"]["edits"]["items"]
    if "$ref" in edit_items:  # pydantic puts the item schema in $defs
        edit_items = tools["edit_file"].input_schema["$defs"][edit_items["$ref"].split("/")[-1]]
    assert set(edit_items["required"]) == {"oldText", "newText"}


async def test_a_written_file_reads_back_unchanged(server: Command, root: Path) -> None:
    text = "first line\nsecond line\n"
    async with connect(server(root)) as client:
        said = await ok(client, "write_file", path=str(root / "note.txt"), content=text)
        assert said == f"Successfully wrote to {root / 'note.txt'}"
        assert await ok(client, "read_text_file", path=str(root / "note.txt")) == text
        assert await ok(client, "read_file", path=str(root / "note.txt")) == text
        assert (
            await ok(client, "read_text_file", path=str(root / "note.txt"), head=1) == "first line"
        )
        # A relative path is taken relative to the root.
        await ok(client, "write_file", path="relative.txt", content="here")
    assert (root / "note.txt").read_text() == text
    assert (root / "relative.txt").read_text() == "here"


async def test_edit_file_replaces_old_text_with_new_text_and_returns_a_diff(
    server: Command, root: Path
) -> None:
    target = root / "poem.txt"
    target.write_text("alpha\nbeta\ngamma\n")
    async with connect(server(root)) as client:
        diff = await ok(
            client,
            "edit_file",
            path=str(target),
            edits=[
                {"oldText": "beta", "newText": "BETA"},
                {"oldText": "gamma", "newText": "delta"},
            ],
        )
    assert target.read_text() == "alpha\nBETA\ndelta\n"
    assert diff.startswith("```diff\n")
    assert "\n-beta\n-gamma\n+BETA\n+delta\n" in diff


async def test_a_dry_run_edit_shows_the_diff_and_leaves_the_file_unchanged(
    server: Command, root: Path
) -> None:
    target = root / "poem.txt"
    target.write_text("alpha\nbeta\n")
    async with connect(server(root)) as client:
        diff = await ok(
            client,
            "edit_file",
            path=str(target),
            edits=[{"oldText": "beta", "newText": "BETA"}],
            dryRun=True,
        )
    assert "\n-beta\n+BETA\n" in diff
    assert target.read_text() == "alpha\nbeta\n"


async def test_an_edit_whose_old_text_is_missing_fails_and_changes_nothing(
    server: Command, root: Path
) -> None:
    target = root / "poem.txt"
    target.write_text("alpha\n")
    async with connect(server(root)) as client:
        said = await refused(
            client, "edit_file", path=str(target), edits=[{"oldText": "zeta", "newText": "x"}]
        )
    assert "Could not find exact match" in said
    assert target.read_text() == "alpha\n"


async def test_list_directory_marks_files_and_folders(server: Command, root: Path) -> None:
    (root / "a.txt").write_text("a")
    (root / "sub").mkdir()
    async with connect(server(root)) as client:
        listing = await ok(client, "list_directory", path=str(root))
    assert sorted(listing.splitlines()) == ["[DIR] sub", "[FILE] a.txt"]


async def test_list_directory_with_sizes_prints_sizes_and_totals_alike(
    server: Command, root: Path
) -> None:
    (root / "small.txt").write_text("x" * 10)
    (root / "big.bin").write_bytes(b"y" * 1536)
    (root / "sub").mkdir()
    async with connect(server(root)) as client:
        by_name = await ok(client, "list_directory_with_sizes", path=str(root))
        by_size = await ok(client, "list_directory_with_sizes", path=str(root), sortBy="size")
    assert by_name.splitlines() == [
        f"[FILE] {'big.bin':<30} {'1.50 KB':>10}",
        f"[FILE] {'small.txt':<30} {'10 B':>10}",
        f"[DIR] {'sub':<30} ",
        "",
        "Total: 2 files, 1 directories",
        "Combined size: 1.51 KB",
    ]
    files_by_size = [line.split()[1] for line in by_size.splitlines() if line.startswith("[FILE]")]
    assert files_by_size == ["big.bin", "small.txt"]  # folders sort by their own st_size


def _sorted_tree(entries: list[dict[str, object]]) -> list[dict[str, object]]:
    # The official server lists entries in the order the OS returns them.
    return sorted(
        (
            {**e, "children": _sorted_tree(e["children"])} if "children" in e else e  # type: ignore[arg-type]
            for e in entries
        ),
        key=lambda e: str(e["name"]),
    )


async def test_directory_tree_gives_the_same_json_tree_and_honours_excludes(
    server: Command, root: Path
) -> None:
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "src" / "pkg" / "mod.py").write_text("")
    (root / "src" / "notes.md").write_text("")
    (root / "node_modules").mkdir()
    (root / "node_modules" / "dep.js").write_text("")
    (root / "empty").mkdir()
    async with connect(server(root)) as client:
        full = json.loads(await ok(client, "directory_tree", path=str(root)))
        trimmed = json.loads(
            await ok(
                client,
                "directory_tree",
                path=str(root),
                excludePatterns=["node_modules", "**/*.md"],
            )
        )
    assert _sorted_tree(full) == [
        {"name": "empty", "type": "directory", "children": []},
        {"name": "node_modules", "type": "directory", "children": [
            {"name": "dep.js", "type": "file"},
        ]},
        {"name": "src", "type": "directory", "children": [
            {"name": "notes.md", "type": "file"},
            {"name": "pkg", "type": "directory", "children": [{"name": "mod.py", "type": "file"}]},
        ]},
    ]  # fmt: skip
    assert _sorted_tree(trimmed) == [
        {"name": "empty", "type": "directory", "children": []},
        {"name": "src", "type": "directory", "children": [
            {"name": "pkg", "type": "directory", "children": [{"name": "mod.py", "type": "file"}]},
        ]},
    ]  # fmt: skip


async def test_read_media_file_returns_base64_image_audio_or_resource(
    server: Command, root: Path
) -> None:
    import base64

    png = b"\x89PNG\r\n\x1a\n" + bytes(range(40))
    (root / "pic.png").write_bytes(png)
    (root / "clip.wav").write_bytes(b"RIFF0000WAVE")
    (root / "blob.dat").write_bytes(b"\x00\x01\x02")
    async with connect(server(root)) as client:
        image = await client.call_tool("read_media_file", {"path": str(root / "pic.png")})
        audio = await client.call_tool("read_media_file", {"path": str(root / "clip.wav")})
        other = await client.call_tool("read_media_file", {"path": str(root / "blob.dat")})
        outside = await client.call_tool(
            "read_media_file", {"path": str(root.parent / "outside" / "secret.txt")}
        )
    [block] = image.content
    assert block.type == "image" and block.mime_type == "image/png"  # type: ignore[union-attr]
    assert base64.b64decode(block.data) == png  # type: ignore[union-attr]
    [block] = audio.content
    assert block.type == "audio" and block.mime_type == "audio/wav"  # type: ignore[union-attr]
    [block] = other.content
    assert block.type == "resource"
    resource = block.resource  # type: ignore[union-attr]
    assert resource.mime_type == "application/octet-stream"
    assert base64.b64decode(resource.blob) == b"\x00\x01\x02"
    assert resource.uri == (root / "blob.dat").resolve().as_uri()
    assert outside.is_error and "Access denied" in text_of(outside)


async def test_search_files_matches_a_glob_on_paths_below_the_folder(
    server: Command, root: Path
) -> None:
    (root / "pkg" / "deep").mkdir(parents=True)
    for name in ["top.py", "pkg/mod.py", "pkg/deep/leaf.py", "pkg/notes.md"]:
        (root / name).write_text("x")
    async with connect(server(root)) as client:
        everywhere = await ok(client, "search_files", path=str(root), pattern="**/*.py")
        top_only = await ok(client, "search_files", path=str(root), pattern="*.py")
        nothing = await ok(client, "search_files", path=str(root), pattern="*.rs")
    assert sorted(everywhere.splitlines()) == [
        str(root / "pkg" / "deep" / "leaf.py"),
        str(root / "pkg" / "mod.py"),
        str(root / "top.py"),
    ]
    assert top_only.splitlines() == [str(root / "top.py")]
    assert nothing == "No matches found"


async def test_move_file_renames_and_refuses_to_overwrite(server: Command, root: Path) -> None:
    (root / "old.txt").write_text("moving")
    (root / "taken.txt").write_text("keep me")
    (root / "dest").mkdir()
    async with connect(server(root)) as client:
        await ok(
            client,
            "move_file",
            source=str(root / "old.txt"),
            destination=str(root / "dest" / "new.txt"),
        )
        await refused(
            client,
            "move_file",
            source=str(root / "dest" / "new.txt"),
            destination=str(root / "taken.txt"),
        )
    assert not (root / "old.txt").exists()
    assert (root / "dest" / "new.txt").read_text() == "moving"
    assert (root / "taken.txt").read_text() == "keep me"


async def test_create_directory_makes_nested_folders_and_accepts_existing_ones(
    server: Command, root: Path
) -> None:
    async with connect(server(root)) as client:
        await ok(client, "create_directory", path=str(root / "a" / "b" / "c"))
        await ok(client, "create_directory", path=str(root / "a" / "b" / "c"))
        info = await ok(client, "get_file_info", path=str(root / "a" / "b"))
        allowed = await ok(client, "list_allowed_directories")
    assert (root / "a" / "b" / "c").is_dir()
    assert "isDirectory: true" in info.splitlines()
    assert allowed.splitlines() == ["Allowed directories:", str(root)]


async def test_a_dot_dot_path_out_of_the_root_is_refused(server: Command, root: Path) -> None:
    outside = root.parent / "outside"
    escapes = [str(root / ".." / "outside" / "secret.txt"), "../outside/secret.txt"]
    async with connect(server(root)) as client:
        for path in escapes:
            for said in [
                await refused(client, "read_text_file", path=path),
                await refused(client, "write_file", path=path, content="overwritten"),
                await refused(
                    client, "edit_file", path=path, edits=[{"oldText": "outside", "newText": "x"}]
                ),
            ]:
                assert "Access denied" in said
                assert str(root) in said  # the message names the allowed root
        await refused(
            client, "write_file", path=str(root / ".." / "outside" / "new.txt"), content="x"
        )
        await refused(client, "list_directory", path=str(root / ".."))
        await refused(
            client,
            "move_file",
            source=str(outside / "secret.txt"),
            destination=str(root / "stolen.txt"),
        )
    assert (outside / "secret.txt").read_text() == SECRET
    assert names(outside) == ["secret.txt"]
    assert names(root) == []


async def test_a_symlink_inside_the_root_pointing_outside_is_refused_for_read_and_write(
    server: Command, root: Path
) -> None:
    outside = root.parent / "outside"
    (root / "link.txt").symlink_to(outside / "secret.txt")
    (root / "dangling.txt").symlink_to(outside / "planted.txt")
    (root / "door").symlink_to(outside, target_is_directory=True)
    async with connect(server(root)) as client:
        assert "Access denied" in await refused(
            client, "read_text_file", path=str(root / "link.txt")
        )
        assert "Access denied" in await refused(
            client, "write_file", path=str(root / "link.txt"), content="overwritten"
        )
        assert "Access denied" in await refused(
            client, "read_text_file", path=str(root / "door" / "secret.txt")
        )
        assert "Access denied" in await refused(
            client, "write_file", path=str(root / "door" / "planted.txt"), content="x"
        )
        # The servers word this one differently; both refuse it.
        await refused(client, "write_file", path=str(root / "dangling.txt"), content="x")
        found = await ok(client, "search_files", path=str(root), pattern="**/secret.txt")
    assert found == "No matches found"
    assert (outside / "secret.txt").read_text() == SECRET
    assert names(outside) == ["secret.txt"]


async def test_a_symlink_inside_the_root_pointing_inside_is_followed(
    server: Command, root: Path
) -> None:
    (root / "real").mkdir()
    (root / "real" / "note.txt").write_text("original\n")
    (root / "alias.txt").symlink_to(root / "real" / "note.txt")
    (root / "shortcut").symlink_to("real", target_is_directory=True)  # a relative target
    async with connect(server(root)) as client:
        assert await ok(client, "read_text_file", path=str(root / "alias.txt")) == "original\n"
        through = await ok(client, "read_text_file", path=str(root / "shortcut" / "note.txt"))
        await ok(client, "write_file", path=str(root / "alias.txt"), content="rewritten\n")
        await ok(client, "write_file", path=str(root / "shortcut" / "new.txt"), content="new\n")
        listed = await ok(client, "list_directory", path=str(root / "shortcut"))
    assert through == "original\n"
    assert (root / "alias.txt").is_symlink()  # the write went to the file it points at
    assert (root / "real" / "note.txt").read_text() == "rewritten\n"
    assert (root / "real" / "new.txt").read_text() == "new\n"
    assert sorted(listed.splitlines()) == ["[FILE] new.txt", "[FILE] note.txt"]


# -- hive only: the size limit, atomic writes, the command line -----------------------


async def test_files_over_the_size_limit_are_refused_for_read_and_write(root: Path) -> None:
    (root / "big.txt").write_text("x" * 101)
    (root / "small.txt").write_text("y" * 100)
    async with connect(hive_server(root, "--max-bytes", "100")) as client:
        assert "over the limit of 100 bytes" in await refused(
            client, "read_text_file", path=str(root / "big.txt")
        )
        assert "over the limit of 100 bytes" in await refused(
            client, "write_file", path=str(root / "new.txt"), content="z" * 101
        )
        # An edit that would grow a file past the limit is refused as a write.
        await refused(
            client,
            "edit_file",
            path=str(root / "small.txt"),
            edits=[{"oldText": "y", "newText": "yy"}],
        )
        assert await ok(client, "read_text_file", path=str(root / "small.txt")) == "y" * 100
        await ok(client, "write_file", path=str(root / "new.txt"), content="z" * 100)
    assert (root / "small.txt").read_text() == "y" * 100
    assert (root / "new.txt").read_text() == "z" * 100


async def test_writes_replace_files_whole_and_leave_no_temp_files(root: Path) -> None:
    target = root / "data.txt"
    async with connect(hive_server(root)) as client:
        await ok(client, "write_file", path=str(target), content="one\n")
        target.chmod(0o600)
        await ok(client, "write_file", path=str(target), content="two\n")
        await ok(
            client, "edit_file", path=str(target), edits=[{"oldText": "two", "newText": "three"}]
        )
        await refused(client, "write_file", path=str(root / "missing" / "x.txt"), content="x")
    assert target.read_text() == "three\n"
    assert target.stat().st_mode & 0o777 == 0o600  # the replacement kept the permissions
    assert names(root) == ["data.txt"]


async def test_a_symlink_loop_is_a_clear_error_and_the_server_stays_up(root: Path) -> None:
    (root / "a").symlink_to(root / "b")
    (root / "b").symlink_to(root / "a")
    async with connect(hive_server(root)) as client:
        said = await refused(client, "read_text_file", path=str(root / "a"))
        await ok(client, "write_file", path=str(root / "after.txt"), content="up")
    assert said.endswith(f"Too many levels of symbolic links: {root / 'a'}")


async def test_a_fifo_is_refused_at_once_instead_of_blocking_the_server(root: Path) -> None:
    os.mkfifo(root / "pipe")
    async with connect(hive_server(root)) as client:
        said = await refused(client, "read_text_file", path=str(root / "pipe"))
    assert said.endswith(f"Not a regular file: {root / 'pipe'}")


@pytest.mark.parametrize(
    "name",
    [
        b"plain.txt",
        b"bad\xffname.txt",
        b"caf\xc3\xa9",
        b"a\\b",
        b"a\\\\b",
        b"lit\\xffe",
        b"\\\xfe\\",
    ],
)
def test_every_shown_name_is_valid_unicode_and_reads_back_as_the_same_bytes(
    name: bytes,
) -> None:
    from hive_mcp.toolservers._names import given, shown

    text = shown(os.fsdecode(name))
    text.encode("utf-8")  # no lone surrogate: JSON can carry it
    assert os.fsencode(given(text)) == name
    if name.isascii() and b"\\\\" not in name and b"\\x" not in name:
        assert text == name.decode()  # ordinary names are shown unchanged


def test_the_server_exits_with_an_error_when_no_root_exists(tmp_path: Path) -> None:
    assert filesystem.main([str(tmp_path / "missing")]) == 1


async def test_an_edit_quoted_with_other_indentation_is_indented_as_the_file(root: Path) -> None:
    # The official server matches such lines too but indents the new lines differently.
    target = root / "code.py"
    target.write_text("def f(x):\n    if x:\n        g()\n")
    async with connect(hive_server(root)) as client:
        await ok(
            client,
            "edit_file",
            path=str(target),
            edits=[{"oldText": "if x:\n    g()", "newText": "if not x:\n    h()\n    g()"}],
        )
    assert target.read_text() == "def f(x):\n    if not x:\n        h()\n        g()\n"


# -- hive only: races and names the official server's tests do not cover -------------

RACE_CALLS = 2000
RACE_WORKERS = 4  # calls in flight at once: more tries per second, the same count


class _Swapper:
    """A thread exchanging ``door`` (a real folder inside) with a symlink to the outside
    folder, and ``file.txt`` (a real file) with a symlink to the secret, in a loop.

    renameat2(RENAME_EXCHANGE) swaps two names in one step, so each name always exists:
    a call finds either the thing inside or the link out, never a gap.
    """

    def __init__(self, root: Path, outside: Path) -> None:
        self.root = root
        (root / "door").mkdir()
        (root / "door" / "secret.txt").write_text("inside\n")
        (root / ".door-spare").symlink_to(outside, target_is_directory=True)
        (root / "file.txt").write_text("inside\n")
        (root / ".file-spare").symlink_to(outside / "secret.txt")
        self.stop = threading.Event()
        self.swaps = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        libc = ctypes.CDLL(None, use_errno=True)
        self._renameat2 = libc.renameat2

    def exchange(self, a: str, b: str) -> None:
        at_fdcwd, rename_exchange = -100, 2
        first, second = os.fsencode(self.root / a), os.fsencode(self.root / b)
        if self._renameat2(at_fdcwd, first, at_fdcwd, second, rename_exchange) != 0:
            raise OSError(ctypes.get_errno(), "renameat2 failed", a)

    def _run(self) -> None:
        while not self.stop.is_set():
            self.exchange("door", ".door-spare")
            self.exchange("file.txt", ".file-spare")
            self.swaps += 1

    def __enter__(self) -> _Swapper:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


async def test_symlinks_swapped_in_a_loop_never_lead_a_call_out_of_the_root(root: Path) -> None:
    outside = root.parent / "outside"
    (outside / "outside-only.txt").write_text("only outside\n")
    for i in range(RACE_CALLS):
        (root / f"mine-{i}.txt").write_text("mine\n")
    door, file = str(root / "door"), str(root / "file.txt")
    calls: list[tuple[str, dict[str, object]]] = [
        ("read_text_file", {"path": file}),
        ("read_text_file", {"path": f"{door}/secret.txt"}),
        ("read_media_file", {"path": file}),
        ("write_file", {"path": f"{door}/planted.txt", "content": "planted"}),
        ("edit_file", {"path": file, "edits": [{"oldText": "outside", "newText": "x"}]}),
        ("list_directory", {"path": door}),
        ("directory_tree", {"path": door}),
        ("search_files", {"path": door, "pattern": "*"}),
        ("get_file_info", {"path": f"{door}/outside-only.txt"}),
        ("create_directory", {"path": f"{door}/made"}),
    ]
    leaks: list[str] = []

    async def worker(client: Client, first: int) -> None:
        for i in range(first, RACE_CALLS, RACE_WORKERS):
            tool, arguments = calls[i % len(calls)]
            if i % 11 == 0:  # a move into the door, once per file
                tool, arguments = (
                    "move_file",
                    {
                        "source": str(root / f"mine-{i}.txt"),
                        "destination": f"{door}/moved-{i}.txt",
                    },
                )
            result = await client.call_tool(tool, arguments)
            said = text_of(result) + json.dumps(
                [block.model_dump(mode="json") for block in result.content]
            )
            # Contents from outside, or a name only the outside folder has in an
            # answer that is not an error (errors repeat the path asked for).
            marks = ["outside the roots", "only outside", "b3V0c2lkZSB0aGUgcm9vdHMK"]
            if not result.is_error:
                marks.append("outside-only")
            leaks.extend(f"{tool}: {said[:300]}" for mark in marks if mark in said)

    swapper = _Swapper(root, outside)
    # A bound for a loaded machine (about 15 s on 2 idle cores), not a timing claim.
    async with connect(hive_server(root), within=200) as client:
        with swapper:
            async with anyio.create_task_group() as calling:
                for first in range(RACE_WORKERS):
                    calling.start_soon(worker, client, first)
        assert swapper.swaps > 0
        # The server is still up and sane once the links stand still.
        if not (root / "door").is_symlink():
            swapper.exchange("door", ".door-spare")
        assert "Access denied" in await refused(client, "read_text_file", path=f"{door}/x")
    assert leaks == [], f"{len(leaks)} of {RACE_CALLS} calls reached outside the root"
    assert (outside / "secret.txt").read_text() == SECRET
    assert names(outside) == ["outside-only.txt", "secret.txt"]


async def test_a_file_name_that_is_not_utf8_is_listed_escaped_and_accepted_back(
    root: Path,
) -> None:
    raw = os.fsencode(root)
    (root / os.fsdecode(b"bad\xffname.txt")).write_bytes(b"named in bytes\n")
    os.mkdir(raw + b"/dir\xfe")
    (root / "plain.txt").write_text("plain\n")
    (root / "lit\\xffe.txt").write_text("literal\n")  # valid UTF-8 that looks escaped
    async with connect(hive_server(root)) as client:
        listing = await ok(client, "list_directory", path=str(root))
        sized = await ok(client, "list_directory_with_sizes", path=str(root))
        tree = json.loads(await ok(client, "directory_tree", path=str(root)))
        found = await ok(client, "search_files", path=str(root), pattern="**/bad*")
        escaped = f"{root}/bad\\xffname.txt"
        text = await ok(client, "read_text_file", path=escaped)
        literal = await ok(client, "read_text_file", path=f"{root}/lit\\\\xffe.txt")
        info = await ok(client, "get_file_info", path=escaped)
        await ok(client, "edit_file", path=escaped, edits=[{"oldText": "bytes", "newText": "B"}])
        await ok(client, "write_file", path=f"{root}/dir\\xfe/new\\xe9.txt", content="made\n")
        await ok(client, "move_file", source=escaped, destination=f"{root}/moved\\xff.txt")
        after = await ok(client, "list_directory", path=str(root))
    assert sorted(listing.splitlines()) == [
        "[DIR] dir\\xfe",
        "[FILE] bad\\xffname.txt",
        "[FILE] lit\\\\xffe.txt",
        "[FILE] plain.txt",
    ]
    assert "bad\\xffname.txt" in sized
    assert {"name": "bad\\xffname.txt", "type": "file"} in tree
    assert found == f"{root}/bad\\xffname.txt"
    assert (text, literal) == ("named in bytes\n", "literal\n")
    assert "isFile: true" in info.splitlines()
    assert "[FILE] moved\\xff.txt" in after.splitlines()
    assert sorted(os.listdir(raw)) == [
        b"dir\xfe", b"lit\\xffe.txt", b"moved\xff.txt", b"plain.txt"
    ]  # fmt: skip
    assert os.listdir(raw + b"/dir\xfe") == [b"new\xe9.txt"]
    assert (root / os.fsdecode(b"moved\xff.txt")).read_bytes() == b"named in B\n"
