"""GitHub over its REST API, as an MCP tool server (``hive-mcp tool-server github``).

Configuration comes from the environment, where an MCP host's server entry can
set it: ``GITHUB_TOKEN`` (or ``GITHUB_PERSONAL_ACCESS_TOKEN``) and
``GITHUB_API_URL`` (default ``https://api.github.com``; GitHub Enterprise Server
uses ``https://HOST/api/v3``). Reads of public repositories work without a token;
writes need one. Every failure becomes a tool error that says what to do next,
and the token never appears in results, errors or logs.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import quote

import httpx2
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field, ValidationError

from hive_mcp.toolservers._github_models import (
    CodeSearch,
    Comment,
    DirEntry,
    FileContents,
    Fork,
    ForkPage,
    Issue,
    IssueList,
    PeoplePage,
    Person,
    PullRequest,
    PullRequestList,
    RepositorySearch,
    User,
)

__all__ = ["GitHubSettings", "build_server", "main"]  # the result models: _github_models

DEFAULT_API_URL = "https://api.github.com"
TOKEN_VARS = ("GITHUB_TOKEN", "GITHUB_PERSONAL_ACCESS_TOKEN")
_MAX_PER_PAGE = 100  # GitHub's ceiling for per_page
_LIST_BODY_CHARS = 500  # lists clip bodies to spare the model's context; get_* has the rest
_READ = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=True)
_WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=True)


@dataclass(frozen=True)
class GitHubSettings:
    """Where the API is and the token to use (kept out of ``repr`` so it never lands in logs)."""

    api_url: str = DEFAULT_API_URL
    token: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> GitHubSettings:
        token = next((env[name] for name in TOKEN_VARS if env.get(name)), None)
        return cls((env.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/"), token)


M = TypeVar("M", bound=BaseModel)


def _parse(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"]))
        raise ToolError(
            f"GitHub's answer has an unexpected shape ({where}: {first['msg']}); "
            "is GITHUB_API_URL the REST API root?"
        ) from None


Listed = TypeVar("Listed", Issue, PullRequest)


def _clip(item: Listed) -> Listed:
    if len(item.body) > _LIST_BODY_CHARS:
        item.body = item.body[:_LIST_BODY_CHARS] + "… (clipped; get the item for all of it)"
    return item


def _file(d: dict[str, Any]) -> FileContents:
    found = _parse(FileContents, d)
    if found.type != "file":
        return found
    if d.get("encoding") != "base64":  # files over 1 MB come with encoding "none", no content
        # A private file's download_url carries a short-lived token in its query: leave it out.
        where = str(d.get("download_url") or "").split("?")[0] or "its download_url"
        found.note = f"too large for the contents API; download it from {where}"
        return found
    try:
        found.text = base64.b64decode(d.get("content") or "").decode("utf-8")  # skips the newlines
    except (binascii.Error, UnicodeDecodeError):
        found.binary, found.note = True, "a binary file: its content is not shown"
    return found


def _rate_limit_text(headers: httpx2.Headers, message: str, has_token: bool) -> str:
    parts = ["GitHub rate limit reached"]
    reset = headers.get("x-ratelimit-reset", "")
    if reset.isdigit():
        until = datetime.fromtimestamp(int(reset), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        parts.append(f"rate limited until {until}")
    if retry_after := headers.get("retry-after"):
        parts.append(f"retry after {retry_after} seconds")
    elif reset.isdigit():
        parts.append("retry after that time")
    if not has_token:
        parts.append("a token in GITHUB_TOKEN raises the limit")
    return "; ".join(parts) + f" (GitHub said: {message})"


def _detail(error: dict[str, Any]) -> str:
    """One entry of a 422's ``errors``: its message, else what was wrong with which field."""
    if error.get("message"):
        return str(error["message"])
    return " ".join(str(error[k]) for k in ("field", "code") if error.get(k)) or "invalid"


def _message(response: httpx2.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase or f"HTTP {response.status_code}"
    if not isinstance(body, dict):
        return f"HTTP {response.status_code}"
    errors = body.get("errors")  # a 422 lists what was wrong with each field
    details = [_detail(e) for e in errors or [] if isinstance(e, dict)]
    return str(body.get("message", "")) + (f": {'; '.join(details)}" if details else "")


class _GitHub:
    """The REST client: a short-lived connection pool per tool call, failures as ToolErrors."""

    def __init__(self, settings: GitHubSettings) -> None:
        self.settings = settings

    def _client(self) -> httpx2.AsyncClient:
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "hive-mcp-github",
        }
        if self.settings.token:
            headers["Authorization"] = f"Bearer {self.settings.token}"
        # httpx drops Authorization when a redirect leaves the origin, so following is safe
        # (GitHub answers 301 for renamed repositories).
        return httpx2.AsyncClient(
            base_url=self.settings.api_url, headers=headers, timeout=30, follow_redirects=True
        )

    def _redact(self, text: str) -> str:
        token = self.settings.token
        return text.replace(token, "***") if token else text

    def need_token(self, action: str) -> None:
        if not self.settings.token:
            raise ToolError(f"{action} needs a GitHub token: set GITHUB_TOKEN (or {TOKEN_VARS[1]})")

    async def _send(
        self, http: httpx2.AsyncClient, method: str, url: str, what: str, **kwargs: Any
    ) -> tuple[Any, str | None]:
        """One request; returns the JSON body and the ``rel="next"`` link, if any."""
        try:
            response = await http.request(method, url, **kwargs)
        except httpx2.HTTPError as exc:
            where = self.settings.api_url
            raise ToolError(self._redact(f"could not reach GitHub at {where}: {exc}")) from None
        if not response.is_success:
            raise ToolError(self._redact(self._explain(response, what)))
        if response.status_code == 204:  # e.g. the contributors of an empty repository
            return None, None
        try:
            body = response.json()
        except ValueError:
            raise ToolError(
                f"{self.settings.api_url} did not answer with JSON; set GITHUB_API_URL to the "
                "REST API root (https://api.github.com, or https://HOST/api/v3 for Enterprise)"
            ) from None
        return body, response.links.get("next", {}).get("url")

    def _explain(self, response: httpx2.Response, what: str) -> str:
        status, message, headers = response.status_code, _message(response), response.headers
        limited = headers.get("x-ratelimit-remaining") == "0" or "retry-after" in headers
        if status == 429 or (status == 403 and limited):
            return _rate_limit_text(headers, message, bool(self.settings.token))
        if status == 401 and self.settings.token:
            return f"the token was refused ({message}): set GITHUB_TOKEN to a valid token"
        if status == 401:
            return f"GitHub asks for authentication ({message}): set GITHUB_TOKEN"
        if status == 404:
            # GitHub answers 404, not 403, for private resources a token cannot see.
            return f"{what} not found or no access (check the names and the token's access)"
        if status == 403:
            return f"{what}: forbidden ({message}); the token lacks a permission this needs"
        if status == 422:
            return f"{what}: GitHub rejected the request ({message})"
        return f"{what}: GitHub answered HTTP {status} ({message})"

    async def call(self, method: str, path: str, what: str, **kwargs: Any) -> Any:
        async with self._client() as http:
            body, _ = await self._send(http, method, path, what, **kwargs)
        return body

    async def collect(
        self,
        path: str,
        what: str,
        params: dict[str, str | int],
        limit: int,
        keep: Callable[[dict[str, Any]], bool] = lambda _: True,
    ) -> tuple[list[dict[str, Any]], bool]:
        """Follow ``Link: rel="next"`` until ``limit`` kept items; also say whether more remain."""
        kept: list[dict[str, Any]] = []
        next_url: str | None = path
        query: dict[str, str | int] | None = params | {"per_page": min(limit, _MAX_PER_PAGE)}
        async with self._client() as http:
            while next_url is not None and len(kept) < limit:
                page, next_url = await self._send(http, "GET", next_url, what, params=query)
                query = None  # the next link already carries the query
                kept += [item for item in page if keep(item)]
        return kept[:limit], len(kept) > limit or next_url is not None

    async def page(
        self, path: str, what: str, page: int, per_page: int
    ) -> tuple[list[dict[str, Any]], bool]:
        """One page as GitHub numbers them; also say whether a further page exists."""
        params = {"per_page": per_page, "page": page}
        async with self._client() as http:
            items, next_url = await self._send(http, "GET", path, what, params=params)
        if items is not None and not isinstance(items, list):
            raise ToolError(f"{what}: GitHub's answer is not a list; is GITHUB_API_URL right?")
        found = items or []
        return found[:per_page], next_url is not None or len(found) > per_page


def _user_path(username: str) -> str:
    if not username:
        raise ToolError("username is needed, e.g. username='octocat'")
    return f"/users/{quote(username, safe='')}"


def _repo_path(owner: str, repo: str) -> str:
    if not owner or not repo:
        raise ToolError("owner and repo are both needed, e.g. owner='octocat', repo='hello-world'")
    return f"/repos/{quote(owner, safe='')}/{quote(repo, safe='')}"


Limit = Annotated[int, Field(ge=1, le=1000, description="the most items to return")]
PerPage = Annotated[
    int, Field(ge=1, le=_MAX_PER_PAGE, description="items per page (GitHub allows at most 100)")
]
Page = Annotated[int, Field(ge=1, description="which page of `limit` items (1 is the first)")]
SearchLimit = Annotated[int, Field(ge=1, le=_MAX_PER_PAGE, description="the most hits to return")]
State = Literal["open", "closed", "all"]


def build_server(settings: GitHubSettings) -> MCPServer:
    """Build the GitHub tool server for ``settings`` (the API URL and the token, if any)."""
    api = _GitHub(settings)
    server = MCPServer(
        "github",
        instructions="Read and write GitHub issues, pull requests, code and files; list a "
        "repository's stargazers, contributors and forks; read user profiles.",
        log_level="WARNING",  # httpx logs every request at INFO; keep stderr for problems
    )

    @server.tool(annotations=_READ)
    async def list_issues(
        owner: str,
        repo: str,
        state: State = "open",
        labels: list[str] | None = None,
        limit: Limit = 30,
    ) -> IssueList:
        """List a repository's issues, newest first (pull requests left out; bodies clipped)."""
        params: dict[str, str | int] = {"state": state}
        if labels:
            params["labels"] = ",".join(labels)
        # The issues endpoint returns pull requests too; list_pull_requests is for those.
        items, more = await api.collect(
            f"{_repo_path(owner, repo)}/issues",
            f"repository {owner}/{repo}",
            params,
            limit,
            keep=lambda item: "pull_request" not in item,
        )
        return IssueList(issues=[_clip(_parse(Issue, i)) for i in items], more=more)

    @server.tool(annotations=_READ)
    async def get_issue(owner: str, repo: str, number: int) -> Issue:
        """Get one issue with its full body."""
        path = f"{_repo_path(owner, repo)}/issues/{number}"
        return _parse(Issue, await api.call("GET", path, f"issue #{number} in {owner}/{repo}"))

    @server.tool(annotations=_WRITE)
    async def create_issue(
        owner: str, repo: str, title: str, body: str = "", labels: list[str] | None = None
    ) -> Issue:
        """Open a new issue; labels that do not exist yet are created by GitHub."""
        api.need_token("creating an issue")
        payload = {"title": title, "body": body, "labels": labels or []}
        path = f"{_repo_path(owner, repo)}/issues"
        return _parse(
            Issue, await api.call("POST", path, f"repository {owner}/{repo}", json=payload)
        )

    @server.tool(annotations=_WRITE)
    async def add_comment(owner: str, repo: str, number: int, body: str) -> Comment:
        """Comment on an issue or a pull request."""
        api.need_token("commenting")
        path = f"{_repo_path(owner, repo)}/issues/{number}/comments"
        what = f"issue #{number} in {owner}/{repo}"
        return _parse(Comment, await api.call("POST", path, what, json={"body": body}))

    @server.tool(annotations=_READ)
    async def list_pull_requests(
        owner: str, repo: str, state: State = "open", limit: Limit = 30
    ) -> PullRequestList:
        """List a repository's pull requests, newest first (bodies clipped)."""
        path = f"{_repo_path(owner, repo)}/pulls"
        items, more = await api.collect(path, f"repository {owner}/{repo}", {"state": state}, limit)
        pulls = [_clip(_parse(PullRequest, p)) for p in items]
        return PullRequestList(pull_requests=pulls, more=more)

    @server.tool(annotations=_READ)
    async def get_pull_request(owner: str, repo: str, number: int) -> PullRequest:
        """Get one pull request: branches, draft, merge state and full body."""
        path = f"{_repo_path(owner, repo)}/pulls/{number}"
        what = f"pull request #{number} in {owner}/{repo}"
        return _parse(PullRequest, await api.call("GET", path, what))

    @server.tool(annotations=_READ)
    async def search_repositories(query: str, limit: SearchLimit = 10) -> RepositorySearch:
        """Search repositories with GitHub's query syntax (e.g. 'mcp language:python stars:>10')."""
        params = {"q": query, "per_page": limit}
        found = await api.call("GET", "/search/repositories", "repository search", params=params)
        return _parse(RepositorySearch, found)

    @server.tool(annotations=_READ)
    async def search_code(query: str, limit: SearchLimit = 10) -> CodeSearch:
        """Search code with GitHub's query syntax (e.g. 'ToolError repo:owner/name')."""
        params = {"q": query, "per_page": limit}
        return _parse(
            CodeSearch, await api.call("GET", "/search/code", "code search", params=params)
        )

    @server.tool(annotations=_READ)
    async def get_file_contents(
        owner: str, repo: str, path: str, ref: str | None = None
    ) -> FileContents:
        """Read a file (decoded text) or list a directory, at ``ref`` (default branch if unset)."""
        clean = path.strip("/")
        url = f"{_repo_path(owner, repo)}/contents/{quote(clean, safe='/')}"
        what = f"{clean or '/'} in {owner}/{repo}" + (f" at {ref}" if ref else "")
        found = await api.call("GET", url, what, params={"ref": ref} if ref else None)
        if not isinstance(found, list):
            return _file(found)
        # A directory comes back as the list of its entries.
        name = clean.rsplit("/", 1)[-1]
        entries = [_parse(DirEntry, entry) for entry in found]
        return FileContents(type="dir", path=clean, name=name, entries=entries)

    async def people(path: str, what: str, limit: int, page: int) -> PeoplePage:
        items, more = await api.page(path, what, page, limit)
        found = [_parse(Person, person) for person in items]
        return PeoplePage(people=found, page=page, more=more, next_page=page + 1 if more else None)

    @server.tool(annotations=_READ)
    async def list_stargazers(
        owner: str, repo: str, limit: PerPage = 30, page: Page = 1
    ) -> PeoplePage:
        """List who starred a repository, earliest first, a page of ``limit`` at a time."""
        path = f"{_repo_path(owner, repo)}/stargazers"
        return await people(path, f"repository {owner}/{repo}", limit, page)

    @server.tool(annotations=_READ)
    async def list_contributors(
        owner: str, repo: str, limit: PerPage = 30, page: Page = 1
    ) -> PeoplePage:
        """List a repository's contributors, most commits first (bots have type 'Bot')."""
        path = f"{_repo_path(owner, repo)}/contributors"
        return await people(path, f"repository {owner}/{repo}", limit, page)

    @server.tool(annotations=_READ)
    async def list_forks(owner: str, repo: str, limit: PerPage = 30, page: Page = 1) -> ForkPage:
        """List a repository's forks, newest first, a page of ``limit`` at a time."""
        path = f"{_repo_path(owner, repo)}/forks"
        items, more = await api.page(path, f"repository {owner}/{repo}", page, limit)
        forks = [_parse(Fork, fork) for fork in items]
        return ForkPage(forks=forks, page=page, more=more, next_page=page + 1 if more else None)

    @server.tool(annotations=_READ)
    async def get_user(username: str) -> User:
        """Get a user's (or organization's) public profile; email is null unless made public."""
        return _parse(User, await api.call("GET", _user_path(username), f"user {username}"))

    @server.tool(annotations=_WRITE)
    async def update_issue(
        owner: str,
        repo: str,
        number: int,
        labels: list[str] | None = None,
        state: Annotated[str | None, Field(description="'open' or 'closed'")] = None,
        title: str | None = None,
        body: str | None = None,
    ) -> Issue:
        """Change an issue (or pull request): only the fields given; ``labels`` replaces all
        of its labels ([] removes them); ``state`` is 'open' or 'closed'."""
        if state is not None and state not in ("open", "closed"):
            raise ToolError(f"state must be 'open' or 'closed', not {state!r}")
        changes = {"labels": labels, "state": state, "title": title, "body": body}
        payload = {key: value for key, value in changes.items() if value is not None}
        if not payload:
            raise ToolError("nothing to change: give labels, state, title or body")
        api.need_token("updating an issue")
        path = f"{_repo_path(owner, repo)}/issues/{number}"
        what = f"issue #{number} in {owner}/{repo}"
        return _parse(Issue, await api.call("PATCH", path, what, json=payload))

    @server.tool(annotations=_WRITE)
    async def create_pull_request(
        owner: str,
        repo: str,
        title: str,
        head: str,
        base: str,
        body: str = "",
        draft: bool = False,
    ) -> PullRequest:
        """Open a pull request merging ``head`` into ``base``; a head in a fork is written
        'fork-owner:branch'."""
        api.need_token("opening a pull request")
        payload = {"title": title, "head": head, "base": base, "body": body, "draft": draft}
        path = f"{_repo_path(owner, repo)}/pulls"
        what = f"pull request from {head} into {base} in {owner}/{repo}"
        return _parse(PullRequest, await api.call("POST", path, what, json=payload))

    return server


def main(argv: list[str]) -> int:
    """Serve the GitHub tools over stdio; settings come from the environment."""
    parser = argparse.ArgumentParser(
        prog="hive-mcp tool-server github",
        description="GitHub REST tools over MCP (stdio). The token comes from GITHUB_TOKEN or "
        "GITHUB_PERSONAL_ACCESS_TOKEN, never from an argument, which other users could see.",
    )
    parser.add_argument(
        "--api-url",
        help=f"the REST API root (default: $GITHUB_API_URL or {DEFAULT_API_URL}; "
        "GitHub Enterprise: https://HOST/api/v3)",
    )
    args = parser.parse_args(argv)
    settings = GitHubSettings.from_env(os.environ)
    if args.api_url:
        settings = replace(settings, api_url=args.api_url.rstrip("/"))
    build_server(settings).run()
    return 0
