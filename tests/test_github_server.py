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


STARGAZERS = ["mona", "hubot", "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]


def seed(fake: FakeGitHub) -> None:
    """octo/widgets: issues 1, 2, 4, 5 (closed), 7, 8 and pull requests 3 and 6, ten stargazers,
    five contributors and three forks; two more repos of octo, an empty one of mona's; profiles."""
    widgets = fake.add_repo(
        "octo", "widgets", description="A widget factory", stars=10, stargazers=STARGAZERS
    )
    widgets.contributors = {"mona": 45, "octocat": 120, "dependabot[bot]": 30, "hubot": 7}
    widgets.contributors["alice"] = 3
    fake.add_repo("octo", "gadgets", description="Gadget toolkit", stars=50)
    # Tests that write (issues, pull requests) do it here, each on its own items.
    sandbox = fake.add_repo("octo", "sandbox", refs={"main", "outreach", "docs", "merged"})
    sandbox.level = {"merged"}  # a branch with nothing new: no pull request from it
    fake.add_issue(sandbox, "Triage me", "Seen on 1.2.", labels=("question",))  # 1
    fake.add_issue(sandbox, "Done already", None, state="closed")  # 2
    fake.add_fork(widgets, "alice", stars=2, refs={"main", "fix-typo"})
    fake.add_fork(widgets, "bob")
    fake.add_fork(widgets, "carol", stars=5, description="Carol's widgets, faster")
    fake.add_fork(sandbox, "erin", refs={"main", "patch-1"})
    fake.add_repo("mona", "empty", empty=True)
    fake.add_user(
        "mona",
        name="Mona Lisa Octocat",
        company="@github",
        blog="https://mona.example",
        location="San Francisco",
        email="mona@example.com",
        bio="Octocat's best friend.",
        followers=1200,
    )
    fake.add_user("alice", name="Alice", bio=None, followers=3)  # no email, blog ""
    fake.add_user("octo", kind="Organization", name="Octo Org", blog="octo.example")
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
        stars = await error(client, "list_stargazers", owner="octo", repo="widgets", page=2)
        github.rate_limit = RateLimit(status=429, reset=1_900_000_000, retry_after=60)
        secondary = await error(client, "search_code", query="helper")
        profile = await error(client, "get_user", username="mona")
    assert "rate limited until 2030-03-17 17:46:40 UTC" in primary
    assert "retry after that time" in primary and "API rate limit exceeded" in primary
    assert "rate limited until 2030-03-17 17:46:40 UTC; retry after 60 seconds" in secondary
    assert stars.split(": ", 1)[1] == primary.split(": ", 1)[1]  # the same, for another tool
    assert "retry after 60 seconds" in profile


async def test_writes_without_a_token_are_refused_before_reaching_github(
    github: FakeGitHub,
) -> None:
    with anyio.fail_after(30):
        async with github_server(github.base_url, token=None) as client:
            create = await error(client, "create_issue", owner="octo", repo="widgets", title="x")
            comment = await error(
                client, "add_comment", owner="octo", repo="widgets", number=1, body="y"
            )
            update = await error(
                client, "update_issue", owner="octo", repo="sandbox", number=1, state="closed"
            )
            pull = await error(
                client,
                "create_pull_request",
                owner="octo",
                repo="sandbox",
                title="t",
                head="outreach",
                base="main",
            )
            read = await error(client, "get_issue", owner="octo", repo="widgets", number=1)
    assert "creating an issue needs a GitHub token: set GITHUB_TOKEN" in create
    assert "commenting needs a GitHub token: set GITHUB_TOKEN" in comment
    assert "updating an issue needs a GitHub token: set GITHUB_TOKEN" in update
    assert "opening a pull request needs a GitHub token: set GITHUB_TOKEN" in pull
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
    assert len(tools) == 15
    assert hints["list_stargazers"] is True and hints["get_user"] is True
    assert hints["update_issue"] is False and hints["create_pull_request"] is False


def gets(fake: FakeGitHub, suffix: str) -> list[dict[str, str]]:
    return [r.query for r in fake.requests if r.method == "GET" and r.path.endswith(suffix)]


async def test_stargazers_come_a_page_at_a_time_and_say_whether_more_pages_exist(
    github: FakeGitHub, client: Client
) -> None:
    widgets = {"owner": "octo", "repo": "widgets"}
    with anyio.fail_after(HANG):
        first = await ok(client, "list_stargazers", **widgets, limit=4)
        second = await ok(client, "list_stargazers", **widgets, limit=4, page=first["next_page"])
        last = await ok(client, "list_stargazers", **widgets, limit=4, page=second["next_page"])
        beyond = await ok(client, "list_stargazers", **widgets, limit=4, page=9)
        everyone = await ok(client, "list_stargazers", **widgets)
    assert (first["page"], first["more"], first["next_page"]) == (1, True, 2)
    assert (second["page"], second["more"], second["next_page"]) == (2, True, 3)
    assert (last["page"], last["more"], last["next_page"]) == (3, False, None)
    pages = [first, second, last]
    assert [p["login"] for page in pages for p in page["people"]] == STARGAZERS  # earliest first
    assert beyond["people"] == [] and beyond["more"] is False
    assert everyone["more"] is False and len(everyone["people"]) == 10
    assert first["people"][0] == {
        "login": "mona",
        "type": "User",
        "html_url": "https://github.example/mona",
        "contributions": None,
    }
    assert gets(github, "/stargazers")[:3] == [
        {"per_page": "4", "page": "1"},
        {"per_page": "4", "page": "2"},
        {"per_page": "4", "page": "3"},
    ]


async def test_contributors_come_most_commits_first_with_bots_marked(
    github: FakeGitHub, client: Client
) -> None:
    with anyio.fail_after(HANG):
        top = await ok(client, "list_contributors", owner="octo", repo="widgets", limit=3)
        rest = await ok(client, "list_contributors", owner="octo", repo="widgets", limit=3, page=2)
        empty = await ok(client, "list_contributors", owner="mona", repo="empty")
    assert [(p["login"], p["contributions"]) for p in top["people"] + rest["people"]] == [
        ("octocat", 120),
        ("mona", 45),
        ("dependabot[bot]", 30),
        ("hubot", 7),
        ("alice", 3),
    ]
    assert top["people"][2]["type"] == "Bot" and top["people"][0]["type"] == "User"
    assert top["more"] is True and top["next_page"] == 2 and rest["more"] is False
    # GitHub answers an empty repository's contributors with 204 No Content.
    assert empty == {"people": [], "page": 1, "more": False, "next_page": None}


async def test_forks_come_newest_first_with_owner_and_stars(
    github: FakeGitHub, client: Client
) -> None:
    with anyio.fail_after(HANG):
        first = await ok(client, "list_forks", owner="octo", repo="widgets", limit=2)
        second = await ok(client, "list_forks", owner="octo", repo="widgets", limit=2, page=2)
        none = await ok(client, "list_forks", owner="octo", repo="gadgets")
    forks = first["forks"] + second["forks"]
    assert [(f["full_name"], f["owner"], f["stars"]) for f in forks] == [
        ("carol/widgets", "carol", 5),
        ("bob/widgets", "bob", 0),
        ("alice/widgets", "alice", 2),
    ]
    assert forks[0]["description"] == "Carol's widgets, faster"
    assert forks[1]["description"] == "A widget factory"  # a fork starts with its parent's
    assert forks[0]["html_url"] == "https://github.example/carol/widgets"
    assert forks[0]["created_at"] > forks[1]["created_at"] > forks[2]["created_at"]
    assert first["more"] is True and second["more"] is False and second["next_page"] is None
    assert none["forks"] == [] and none["more"] is False


async def test_get_user_returns_the_public_profile(github: FakeGitHub, client: Client) -> None:
    with anyio.fail_after(HANG):
        mona = await ok(client, "get_user", username="mona")
        alice = await ok(client, "get_user", username="alice")
        org = await ok(client, "get_user", username="octo")
        nobody = await error(client, "get_user", username="nobody-here")
    assert mona == {
        "login": "mona",
        "type": "User",
        "name": "Mona Lisa Octocat",
        "company": "@github",
        "blog": "https://mona.example",
        "location": "San Francisco",
        "email": "mona@example.com",
        "bio": "Octocat's best friend.",
        "public_repos": 1,
        "followers": 1200,
        "html_url": "https://github.example/mona",
    }
    assert alice["email"] is None and alice["blog"] is None and alice["company"] is None
    assert alice["public_repos"] == 1 and alice["followers"] == 3
    assert org["type"] == "Organization" and org["public_repos"] == 3
    assert "user nobody-here not found or no access" in nobody
    assert [r.path for r in github.requests] == [
        "/users/mona",
        "/users/alice",
        "/users/octo",
        "/users/nobody-here",
    ]


async def test_the_new_tools_name_an_unknown_repository(github: FakeGitHub, client: Client) -> None:
    nope = {"owner": "octo", "repo": "nope"}
    with anyio.fail_after(HANG):
        texts = [
            await error(client, "list_stargazers", **nope),
            await error(client, "list_contributors", **nope),
            await error(client, "list_forks", **nope),
            await error(client, "update_issue", **nope, number=1, title="x"),
            await error(
                client, "create_pull_request", **nope, title="x", head="feature", base="main"
            ),
        ]
        no_issue = await error(
            client, "update_issue", owner="octo", repo="sandbox", number=99, state="closed"
        )
    assert all("repository octo/nope not found or no access" in t for t in texts[:3]), texts
    assert "issue #1 in octo/nope not found or no access" in texts[3]
    assert "pull request from feature into main in octo/nope not found" in texts[4]
    assert "issue #99 in octo/sandbox not found or no access" in no_issue


async def test_update_issue_sends_only_the_fields_given_and_closes_and_reopens(
    github: FakeGitHub, client: Client
) -> None:
    issue = {"owner": "octo", "repo": "sandbox", "number": 1}
    with anyio.fail_after(HANG):
        closed = await ok(
            client, "update_issue", **issue, state="closed", labels=["answered", "outreach"]
        )
        renamed = await ok(client, "update_issue", **issue, title="Triaged", body="")
        reopened = await ok(client, "update_issue", **issue, state="open", labels=[])
    patches = [r.json for r in github.posted("/repos/octo/sandbox/issues/1", method="PATCH")]
    assert patches == [
        {"state": "closed", "labels": ["answered", "outreach"]},
        {"title": "Triaged", "body": ""},
        {"state": "open", "labels": []},
    ]
    assert closed["state"] == "closed" and closed["closed_at"] is not None
    assert closed["labels"] == ["answered", "outreach"] and closed["title"] == "Triage me"
    assert renamed["title"] == "Triaged" and renamed["body"] == "" and renamed["state"] == "closed"
    assert renamed["labels"] == ["answered", "outreach"]  # left alone when not given
    assert reopened["state"] == "open" and reopened["closed_at"] is None
    assert reopened["labels"] == []


async def test_update_issue_refuses_a_state_other_than_open_or_closed(
    github: FakeGitHub, client: Client
) -> None:
    issue = {"owner": "octo", "repo": "sandbox", "number": 2}
    with anyio.fail_after(HANG):
        merged = await error(client, "update_issue", **issue, state="merged")
        upper = await error(client, "update_issue", **issue, state="Closed", title="x")
        nothing = await error(client, "update_issue", **issue)
    assert "state must be 'open' or 'closed', not 'merged'" in merged
    assert "state must be 'open' or 'closed', not 'Closed'" in upper
    assert "nothing to change: give labels, state, title or body" in nothing
    assert github.requests == []  # refused before reaching GitHub


async def test_create_pull_request_opens_one_from_a_branch_or_a_fork(
    github: FakeGitHub, client: Client
) -> None:
    sandbox = {"owner": "octo", "repo": "sandbox"}
    with anyio.fail_after(HANG):
        opened = await ok(
            client,
            "create_pull_request",
            **sandbox,
            title="Add outreach notes",
            head="outreach",
            base="main",
            body="For the pipeline.",
            draft=True,
        )
        from_fork = await ok(
            client, "create_pull_request", **sandbox, title="Fix", head="erin:patch-1", base="main"
        )
        fetched = await ok(client, "get_pull_request", **sandbox, number=opened["number"])
    (posted, _) = github.posted("/repos/octo/sandbox/pulls")
    assert posted.json == {
        "title": "Add outreach notes",
        "head": "outreach",
        "base": "main",
        "body": "For the pipeline.",
        "draft": True,
    }
    assert posted.headers["authorization"] == f"Bearer {TOKEN}"
    assert opened["state"] == "open" and opened["draft"] is True and opened["user"] == "octocat"
    assert (opened["head"], opened["base"]) == ("outreach", "main")
    assert opened["mergeable"] is None and opened["mergeable_state"] == "unknown"
    assert opened["html_url"] == f"https://github.example/octo/sandbox/pull/{opened['number']}"
    assert from_fork["head"] == "patch-1" and from_fork["draft"] is False
    assert from_fork["number"] == opened["number"] + 1
    assert fetched["title"] == "Add outreach notes" and fetched["body"] == "For the pipeline."


async def test_a_pull_request_github_refuses_is_a_422_error_with_its_message(
    github: FakeGitHub, client: Client
) -> None:
    def pull(head: str, base: str = "main") -> dict[str, str]:
        return {"owner": "octo", "repo": "sandbox", "title": "t", "head": head, "base": base}

    with anyio.fail_after(HANG):
        no_commits = await error(client, "create_pull_request", **pull("merged"))
        same = await error(client, "create_pull_request", **pull("main"))
        await ok(client, "create_pull_request", **pull("docs"))
        twice = await error(client, "create_pull_request", **pull("docs"))
        no_branch = await error(client, "create_pull_request", **pull("gone", base="trunk"))
        no_fork = await error(client, "create_pull_request", **pull("zed:patch-1"))
    assert (
        "pull request from merged into main in octo/sandbox: GitHub rejected the request "
        "(Validation Failed: No commits between main and merged)"
    ) in no_commits
    assert "No commits between main and main" in same
    assert "(Validation Failed: A pull request already exists for octo:docs.)" in twice
    assert "(Validation Failed: base invalid; head invalid)" in no_branch
    assert "(Validation Failed: head invalid)" in no_fork
