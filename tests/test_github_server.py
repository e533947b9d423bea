"""The GitHub tool server as a real stdio process, against a fake GitHub REST API on loopback."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TextIO

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp_types import CallToolResult, TextContent

from tests.fakes.github_api import FakeGitHub, RateLimit, one_test, running_fake_github
from tests.support import HANG

pytestmark = pytest.mark.anyio
TOKEN = "ghp_fake0123456789abcdefSECRET"
LONG_BODY = "A paragraph that goes on. " * 80


def seed(fake: FakeGitHub) -> None:
    """octo/widgets: issues 1, 2, 4, 5 (closed), 7, 8 and pull requests 3 and 6; two more repos."""
    widgets = fake.add_repo("octo", "widgets", description="A widget factory", stars=10)
    fake.add_repo("octo", "gadgets", description="Gadget toolkit", stars=50)
    fake.add_repo("octo", "sandbox")  # tests that create issues do it here
    fake.add_issue(widgets, "Crash on start", "Stack trace attached.", labels=("bug",))
    fake.add_issue(widgets, "Docs typo", None, labels=("docs",))
    fake.add_pull(widgets, "Add caching", head="feature/cache", body="Caches lookups.")
    fake.add_issue(widgets, "Slow search", "Takes 3 s.", labels=("bug", "perf"), user="mona")
    fake.add_issue(widgets, "Old thing", "Fixed long ago.", state="closed")
    fake.add_pull(
        widgets,
        "WIP: rewrite",
        head="rewrite",
        draft=True,
        mergeable=None,
        mergeable_state="unknown",
    )
    fake.add_issue(widgets, "Unicode names", "Names like Zoë break.", labels=("bug",))
    fake.add_issue(widgets, "Long report", LONG_BODY)
    fake.add_file(widgets, "README.md", "# Widgets\n\nMakes widgets. ✓\n" * 5)
    fake.add_file(widgets, "src/app.py", "from util.helpers import helper\n\nhelper()\n")
    fake.add_file(widgets, "src/util/helpers.py", "def helper():\n    return 42\n")
    fake.add_file(widgets, "logo.png", b"\x89PNG\r\n\x1a\n\x00\xff\xfe")


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"  # module scope, so one server process can serve the whole module


@pytest.fixture(scope="module")
def shared_github() -> Iterator[FakeGitHub]:
    with running_fake_github(TOKEN) as fake:
        seed(fake)
        yield fake


@pytest.fixture
def github(shared_github: FakeGitHub) -> Iterator[FakeGitHub]:
    with one_test(shared_github) as fake:
        yield fake


@asynccontextmanager
async def github_server(
    api_url: str, token: str | None = TOKEN, errlog: TextIO = sys.stderr, verbose: bool = False
) -> AsyncIterator[Client]:
    """The tool server as ``hive-mcp tool-server github``, configured only by its environment."""
    env = {"PATH": os.environ["PATH"], "GITHUB_API_URL": api_url, "PYTHONWARNINGS": "error"}
    if token is not None:
        env["GITHUB_TOKEN"] = token
    args = ["-m", "hive_mcp", *(["--verbose"] if verbose else []), "tool-server", "github"]
    params = StdioServerParameters(command=sys.executable, args=args, env=env)
    async with Client(stdio_client(params, errlog=errlog)) as client:
        yield client


@pytest.fixture(scope="module")
def server_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("github") / "server-stderr.log"


@pytest.fixture(scope="module")
async def client(shared_github: FakeGitHub, server_log: Path) -> AsyncIterator[Client]:
    """One server process for the tests that need no settings of their own (it saves seconds).

    It logs verbosely to ``server_log``, where no line may show the token.
    """
    with server_log.open("w") as log:
        async with github_server(shared_github.base_url, errlog=log, verbose=True) as client:
            yield client


async def call(client: Client, tool: str, **arguments: Any) -> CallToolResult:
    result = await client.call_tool(tool, arguments)
    assert TOKEN not in result.model_dump_json(), f"{tool} echoed the token"
    return result


async def ok(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await call(client, tool, **arguments)
    assert not result.is_error, result.content
    structured: dict[str, Any] | None = result.structured_content
    assert structured is not None
    return structured


async def error(client: Client, tool: str, **arguments: Any) -> str:
    result = await call(client, tool, **arguments)
    assert result.is_error
    assert isinstance(result.content[0], TextContent)
    return result.content[0].text


def issue_pages(fake: FakeGitHub) -> list[dict[str, str]]:
    return [r.query for r in fake.requests if r.method == "GET" and r.path.endswith("/issues")]


async def test_list_issues_follows_link_pages_and_leaves_out_pull_requests(
    github: FakeGitHub, client: Client
) -> None:
    github.max_per_page = 3  # seven open issues and pull requests: three pages
    with anyio.fail_after(HANG):
        listed = await ok(client, "list_issues", owner="octo", repo="widgets")
    assert [i["number"] for i in listed["issues"]] == [8, 7, 4, 2, 1]
    assert listed["more"] is False
    assert [q.get("page", "1") for q in issue_pages(github)] == ["1", "2", "3"]
    slow = listed["issues"][2]
    assert slow["title"] == "Slow search" and slow["user"] == "mona"
    assert slow["labels"] == ["bug", "perf"] and slow["state"] == "open"
    assert slow["html_url"] == "https://github.example/octo/widgets/issues/4"
    assert len(listed["issues"][0]["body"]) < len(LONG_BODY)  # lists clip long bodies


async def test_list_issues_filters_by_label_and_state_and_stops_at_the_limit(
    github: FakeGitHub, client: Client
) -> None:
    with anyio.fail_after(HANG):
        bugs = await ok(client, "list_issues", owner="octo", repo="widgets", labels=["bug"])
        closed = await ok(client, "list_issues", owner="octo", repo="widgets", state="closed")
        github.requests.clear()
        first_two = await ok(client, "list_issues", owner="octo", repo="widgets", limit=2)
    assert [i["number"] for i in bugs["issues"]] == [7, 4, 1]
    assert [i["number"] for i in closed["issues"]] == [5]
    assert [i["number"] for i in first_two["issues"]] == [8, 7]
    assert first_two["more"] is True
    assert issue_pages(github) == [{"state": "open", "per_page": "2"}]  # no page fetched in vain


async def test_get_issue_returns_the_full_body_labels_author_and_comment_count(
    github: FakeGitHub, client: Client
) -> None:
    with anyio.fail_after(HANG):
        long_one = await ok(client, "get_issue", owner="octo", repo="widgets", number=8)
        untitled = await ok(client, "get_issue", owner="octo", repo="widgets", number=2)
    assert long_one["body"] == LONG_BODY
    assert long_one["user"] == "octocat" and long_one["comments"] == 0
    assert long_one["created_at"].endswith("Z") and long_one["closed_at"] is None
    assert untitled["body"] == "" and untitled["labels"] == ["docs"]  # GitHub sent body: null


async def test_create_issue_and_add_comment_send_the_documented_json(
    github: FakeGitHub, client: Client
) -> None:
    issue = {"owner": "octo", "repo": "sandbox"}
    with anyio.fail_after(HANG):
        created = await ok(
            client, "create_issue", **issue, title="New bug", body="1, 2", labels=["bug", "triage"]
        )
        number = created["number"]
        comment = await ok(client, "add_comment", **issue, number=number, body="+1")
        again = await ok(client, "get_issue", **issue, number=number)
    (create,) = github.posted("/repos/octo/sandbox/issues")
    assert create.json == {"title": "New bug", "body": "1, 2", "labels": ["bug", "triage"]}
    assert create.headers["authorization"] == f"Bearer {TOKEN}"
    assert create.headers["accept"] == "application/vnd.github+json"
    assert create.headers["x-github-api-version"] == "2022-11-28"
    assert create.headers["user-agent"].startswith("hive-mcp")
    assert created["labels"] == ["bug", "triage"] and created["state"] == "open"
    (posted,) = github.posted(f"/repos/octo/sandbox/issues/{number}/comments")
    assert posted.json == {"body": "+1"}
    assert comment["body"] == "+1" and comment["user"] == "octocat"
    assert comment["html_url"].endswith(f"/issues/{number}#issuecomment-{comment['id']}")
    assert again["comments"] == 1


async def test_pull_requests_are_listed_and_fetched_with_branches_draft_and_merge_state(
    github: FakeGitHub, client: Client
) -> None:
    with anyio.fail_after(HANG):
        listed = await ok(client, "list_pull_requests", owner="octo", repo="widgets")
        caching = await ok(client, "get_pull_request", owner="octo", repo="widgets", number=3)
        wip = await ok(client, "get_pull_request", owner="octo", repo="widgets", number=6)
    assert [(p["number"], p["draft"]) for p in listed["pull_requests"]] == [(6, True), (3, False)]
    assert listed["pull_requests"][1]["mergeable"] is None  # lists do not carry merge state
    assert caching["head"] == "feature/cache" and caching["base"] == "main"
    assert caching["mergeable"] is True and caching["mergeable_state"] == "clean"
    assert caching["merged"] is False and caching["body"] == "Caches lookups."
    assert caching["html_url"] == "https://github.example/octo/widgets/pull/3"
    assert wip["mergeable"] is None and wip["mergeable_state"] == "unknown"


async def test_search_finds_repositories_and_code(github: FakeGitHub, client: Client) -> None:
    with anyio.fail_after(HANG):
        repos = await ok(client, "search_repositories", query="user:octo")
        widgets = await ok(client, "search_repositories", query="widget", limit=1)
        code = await ok(client, "search_code", query="def helper repo:octo/widgets")
    assert [r["full_name"] for r in repos["items"]] == [
        "octo/gadgets",
        "octo/widgets",
        "octo/sandbox",
    ]
    assert repos["total_count"] == 3 and repos["items"][0]["stars"] == 50
    assert widgets["items"][0]["description"] == "A widget factory"
    assert widgets["items"][0]["default_branch"] == "main"
    assert code["total_count"] == 1
    (hit,) = code["items"]
    assert (hit["repository"], hit["path"], hit["name"]) == (
        "octo/widgets",
        "src/util/helpers.py",
        "helpers.py",
    )
    searches = [r.query for r in github.requests if r.path.startswith("/search/")]
    assert searches[1] == {"q": "widget", "per_page": "1"}


async def test_a_file_is_decoded_and_a_directory_lists_its_entries(
    github: FakeGitHub, client: Client
) -> None:
    with anyio.fail_after(HANG):
        readme = await ok(
            client, "get_file_contents", owner="octo", repo="widgets", path="README.md"
        )
        src = await ok(
            client, "get_file_contents", owner="octo", repo="widgets", path="src/", ref="main"
        )
        root = await ok(client, "get_file_contents", owner="octo", repo="widgets", path="")
        logo = await ok(client, "get_file_contents", owner="octo", repo="widgets", path="logo.png")
        no_ref = await error(
            client, "get_file_contents", owner="octo", repo="widgets", path="README.md", ref="v9"
        )
    assert readme["type"] == "file" and readme["text"] == "# Widgets\n\nMakes widgets. ✓\n" * 5
    assert len(readme["sha"]) == 40 and readme["binary"] is False
    assert src["type"] == "dir" and src["name"] == "src"
    assert [(e["path"], e["type"]) for e in src["entries"]] == [
        ("src/app.py", "file"),
        ("src/util", "dir"),
    ]
    assert [e["name"] for e in root["entries"]] == ["README.md", "logo.png", "src"]
    assert logo["binary"] is True and logo["text"] is None
    assert "README.md in octo/widgets at v9 not found or no access" in no_ref
    contents = [r for r in github.requests if "/contents" in r.path]
    assert contents[1].query == {"ref": "main"}


async def test_an_unknown_repository_or_issue_is_a_clear_not_found_error(
    github: FakeGitHub, client: Client
) -> None:
    with anyio.fail_after(HANG):
        no_repo = await error(client, "list_issues", owner="octo", repo="nope")
        no_issue = await error(client, "get_issue", owner="octo", repo="widgets", number=99)
        no_pull = await error(client, "get_pull_request", owner="octo", repo="widgets", number=1)
    assert "repository octo/nope not found or no access" in no_repo
    assert "issue #99 in octo/widgets not found or no access" in no_issue
    assert "pull request #1 in octo/widgets not found" in no_pull


async def test_a_refused_token_is_a_401_error_naming_github_token_without_echoing_it(
    github: FakeGitHub, client: Client
) -> None:
    github.token = "the-right-token"
    with anyio.fail_after(HANG):
        refused = await error(client, "get_issue", owner="octo", repo="widgets", number=1)
        listing = await error(client, "list_pull_requests", owner="octo", repo="widgets")
    assert "the token was refused (Bad credentials): set GITHUB_TOKEN" in refused
    assert "GITHUB_TOKEN" in listing and TOKEN not in refused + listing


async def test_rate_limiting_reports_the_reset_time_and_when_to_retry(
    github: FakeGitHub, client: Client
) -> None:
    with anyio.fail_after(HANG):
        github.rate_limit = RateLimit(status=403, reset=1_900_000_000)
        primary = await error(client, "list_issues", owner="octo", repo="widgets")
        github.rate_limit = RateLimit(status=429, reset=1_900_000_000, retry_after=60)
        secondary = await error(client, "search_code", query="helper")
    assert "rate limited until 2030-03-17 17:46:40 UTC" in primary
    assert "retry after that time" in primary and "API rate limit exceeded" in primary
    assert "rate limited until 2030-03-17 17:46:40 UTC; retry after 60 seconds" in secondary


async def test_writes_without_a_token_are_refused_before_reaching_github(
    github: FakeGitHub,
) -> None:
    with anyio.fail_after(30):
        async with github_server(github.base_url, token=None) as client:
            create = await error(client, "create_issue", owner="octo", repo="widgets", title="x")
            comment = await error(
                client, "add_comment", owner="octo", repo="widgets", number=1, body="y"
            )
            read = await error(client, "get_issue", owner="octo", repo="widgets", number=1)
    assert "creating an issue needs a GitHub token: set GITHUB_TOKEN" in create
    assert "commenting needs a GitHub token: set GITHUB_TOKEN" in comment
    assert [r.method for r in github.requests] == ["GET"]  # only the read went out, unauthenticated
    assert "authorization" not in github.requests[0].headers
    assert "GitHub asks for authentication (Bad credentials): set GITHUB_TOKEN" in read


async def test_a_github_enterprise_base_path_is_honoured_across_pages() -> None:
    with running_fake_github(TOKEN, prefix="/api/v3") as ghe, anyio.fail_after(30):
        seed(ghe)
        ghe.max_per_page = 4
        async with github_server(ghe.base_url + "/") as client:  # a trailing slash is fine too
            listed = await ok(client, "list_issues", owner="octo", repo="widgets")
            readme = await ok(
                client, "get_file_contents", owner="octo", repo="widgets", path="README.md"
            )
    assert ghe.base_url.endswith("/api/v3")
    assert len(listed["issues"]) == 5 and readme["text"].startswith("# Widgets")
    assert [r.path for r in ghe.requests] == [
        "/api/v3/repos/octo/widgets/issues",
        "/api/v3/repos/octo/widgets/issues",
        "/api/v3/repos/octo/widgets/contents/README.md",
    ]


async def test_the_token_appears_in_no_result_or_log_line(
    github: FakeGitHub, client: Client, server_log: Path
) -> None:
    with anyio.fail_after(HANG):
        tools = (await client.list_tools()).tools
        texts = [
            await ok(client, "list_issues", owner="octo", repo="widgets"),
            await ok(client, "create_issue", owner="octo", repo="sandbox", title="t"),
            await ok(client, "search_repositories", query="octo"),
            await error(client, "get_issue", owner="octo", repo="widgets", number=99),
        ]
        github.token = "rotated"  # now ours is refused: 401
        texts.append(await error(client, "get_issue", owner="octo", repo="widgets", number=1))
    logged = await anyio.Path(server_log).read_text()  # the child's handler flushes every record
    assert "HTTP Request: GET" in logged  # verbose logging is on, so the check means something
    assert TOKEN not in logged and TOKEN not in json.dumps(texts)
    hints = {t.name: t.annotations.read_only_hint for t in tools if t.annotations}
    assert hints["get_issue"] is True and hints["create_issue"] is False
    assert len(tools) == 9
