"""A fake GitHub REST API: in-memory repositories served over loopback.

The JSON follows the shapes in GitHub's REST documentation (issues, pull requests,
search, repository contents, stargazers, contributors, forks, user profiles), including the fields a client is free to ignore, so
a client written against the docs meets what it would meet on github.com. Like
GitHub it pages with ``per_page``/``page`` and a ``Link`` header, lists pull
requests among issues, answers 404 with a JSON message, 401 "Bad credentials" for
a wrong token and, when ``rate_limit`` is set, 403/429 with ``x-ratelimit-*``
headers, and 422 "Validation Failed" with GitHub's ``errors`` for writes it would
refuse (an invalid issue state; a pull request with no commits, an unknown branch or
one already open). Every request is recorded for the test to inspect.

It runs under uvicorn in a background thread (its own event loop), mounted under
``prefix`` so the GitHub Enterprise layout (``/api/v3``) can be served too.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from tests.fakes._serve import serve_in_thread

__all__ = [
    "FakeGitHub",
    "FakeRepo",
    "RateLimit",
    "Recorded",
    "one_test",
    "running_fake_github",
]

HTML_ROOT = "https://github.example"
DOCS = "https://docs.github.com/rest"
Handler = Any  # an async (Request) -> Response endpoint


@dataclass(kw_only=True)
class FakeRepo:
    """One repository; issues and pull requests share ``number`` like on GitHub."""

    owner: str
    name: str
    description: str | None = None
    language: str | None = "Python"
    stars: int = 0
    default_branch: str = "main"
    issues: dict[int, dict[str, Any]] = field(default_factory=dict)  # PRs too, as issues
    pulls: dict[int, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)  # on every ref in ``refs``
    refs: set[str] = field(default_factory=lambda: {"main"})
    level: set[str] = field(default_factory=set)  # refs with no commits the default lacks
    stargazers: list[str] = field(default_factory=list)  # logins, in the order they starred
    contributors: dict[str, int] = field(default_factory=dict)  # login → commits
    fork_of: str | None = None  # the parent's full name
    empty: bool = False  # no commits yet: GitHub answers 204 for its contributors
    created: int = 0  # a creation order, for "newest first"

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass(frozen=True, kw_only=True)
class RateLimit:
    """Answer every request as rate limited: 403 (primary limit) or 429 with Retry-After."""

    status: int = 403
    reset: int = 1_900_000_000  # 2030-03-17 17:46:40 UTC
    retry_after: int | None = None


@dataclass(frozen=True, kw_only=True)
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any


def _user(login: str, kind: str | None = None) -> dict[str, Any]:
    """GitHub's short user object (apps' bot accounts are ``name[bot]``, type Bot)."""
    api = f"{HTML_ROOT}/api/users/{login}"
    return {
        "login": login,
        "id": sum(map(ord, login)),
        "node_id": f"U_{login}",
        "avatar_url": f"{HTML_ROOT}/avatars/{login}",
        "gravatar_id": "",
        "url": api,
        "html_url": f"{HTML_ROOT}/{login}",
        "followers_url": f"{api}/followers",
        "repos_url": f"{api}/repos",
        "type": kind or ("Bot" if login.endswith("[bot]") else "User"),
        "user_view_type": "public",
        "site_admin": False,
    }


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    body = {"message": message, "documentation_url": DOCS, "status": str(status)} | extra
    return JSONResponse(body, status_code=status)


class FakeGitHub:
    """The fake service; seed it with ``add_*``, then point a client at ``base_url``."""

    def __init__(self, token: str, prefix: str = "") -> None:
        self.token = token
        self.prefix = prefix
        self.base_url = ""  # set once the server listens
        self.max_per_page = 100  # lower it to force many pages
        self.rate_limit: RateLimit | None = None
        self.requests: list[Recorded] = []
        self.repos: dict[str, FakeRepo] = {}
        self.users: dict[str, dict[str, Any]] = {}  # login → the profile /users/{login} gives
        self.started = threading.Event()
        self._ids = 1000
        routes = [
            Route(
                "/repos/{owner}/{repo}/issues", self._guard(self._issues), methods=["GET", "POST"]
            ),
            Route(
                "/repos/{owner}/{repo}/issues/{number:int}",
                self._guard(self._issue),
                methods=["GET", "PATCH"],
            ),
            Route(
                "/repos/{owner}/{repo}/issues/{number:int}/comments",
                self._guard(self._comment),
                methods=["POST"],
            ),
            Route("/repos/{owner}/{repo}/pulls", self._guard(self._pulls), methods=["GET", "POST"]),
            Route("/repos/{owner}/{repo}/pulls/{number:int}", self._guard(self._pull)),
            Route("/repos/{owner}/{repo}/contents", self._guard(self._contents)),
            Route("/repos/{owner}/{repo}/contents/{path:path}", self._guard(self._contents)),
            Route("/repos/{owner}/{repo}/stargazers", self._guard(self._stargazers)),
            Route("/repos/{owner}/{repo}/contributors", self._guard(self._contributors)),
            Route("/repos/{owner}/{repo}/forks", self._guard(self._forks)),
            Route("/users/{username}", self._guard(self._profile)),
            Route("/search/repositories", self._guard(self._search_repositories)),
            Route("/search/code", self._guard(self._search_code)),
        ]
        self.app = Starlette(
            routes=[Mount(prefix, routes=routes)] if prefix else routes,
            exception_handlers={404: self._not_found},
            lifespan=self._lifespan,
        )

    # -- seeding ---------------------------------------------------------------

    def add_repo(self, owner: str, name: str, **kwargs: Any) -> FakeRepo:
        repo = FakeRepo(owner=owner, name=name, created=len(self.repos), **kwargs)
        self.repos[repo.full_name] = repo
        return repo

    def add_fork(self, parent: FakeRepo, owner: str, **kwargs: Any) -> FakeRepo:
        """``owner``'s fork of ``parent``: its branches, description and language."""
        kwargs = {"refs": set(parent.refs), "description": parent.description} | kwargs
        kwargs.setdefault("language", parent.language)
        return self.add_repo(owner, parent.name, fork_of=parent.full_name, **kwargs)

    def add_user(self, login: str, kind: str = "User", **profile: Any) -> dict[str, Any]:
        """A public profile; unset fields are null like on GitHub (``blog`` is "" there)."""
        stamp = self._stamp()
        self.users[login] = (
            _user(login, kind)
            | {
                "name": None,
                "company": None,
                "blog": "",
                "location": None,
                "email": None,
                "hireable": None,
                "bio": None,
                "twitter_username": None,
                "public_repos": sum(r.owner == login for r in self.repos.values()),
                "public_gists": 0,
                "followers": 0,
                "following": 0,
                "created_at": "2015-03-01T12:00:00Z",
                "updated_at": stamp,
            }
            | profile
        )
        return self.users[login]

    def add_issue(
        self,
        repo: FakeRepo,
        title: str,
        body: str | None = None,
        labels: tuple[str, ...] = (),
        user: str = "octocat",
        state: str = "open",
    ) -> dict[str, Any]:
        number = len(repo.issues) + 1
        issue_url = f"{self.base_url}/repos/{repo.full_name}/issues/{number}"
        stamp = self._stamp()
        issue = {
            "id": self._next_id(),
            "node_id": f"I_{repo.name}_{number}",
            "url": issue_url,
            "repository_url": f"{self.base_url}/repos/{repo.full_name}",
            "labels_url": issue_url + "/labels{/name}",
            "comments_url": issue_url + "/comments",
            "events_url": issue_url + "/events",
            "html_url": f"{HTML_ROOT}/{repo.full_name}/issues/{number}",
            "number": number,
            "state": state,
            "state_reason": "completed" if state == "closed" else None,
            "title": title,
            "body": body,
            "user": _user(user),
            "labels": [self._label(name) for name in labels],
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "locked": False,
            "active_lock_reason": None,
            "comments": 0,
            "closed_at": stamp if state == "closed" else None,
            "created_at": stamp,
            "updated_at": stamp,
            "author_association": "OWNER",
        }
        repo.issues[number] = issue
        return issue

    def add_pull(
        self,
        repo: FakeRepo,
        title: str,
        head: str,
        body: str | None = None,
        draft: bool = False,
        mergeable: bool | None = True,
        mergeable_state: str = "clean",
        user: str = "hubot",
        base: str | None = None,
        head_repo: FakeRepo | None = None,
    ) -> dict[str, Any]:
        issue = self.add_issue(repo, title, body, user=user)
        number = issue["number"]
        pr_url = f"{self.base_url}/repos/{repo.full_name}/pulls/{number}"
        html_url = f"{HTML_ROOT}/{repo.full_name}/pull/{number}"
        issue["pull_request"] = {
            "url": pr_url,
            "html_url": html_url,
            "diff_url": html_url + ".diff",
            "patch_url": html_url + ".patch",
            "merged_at": None,
        }
        repo.pulls[number] = {
            **{k: issue[k] for k in ("id", "number", "state", "locked", "title", "user", "body")},
            **{k: issue[k] for k in ("labels", "milestone", "created_at", "updated_at")},
            "url": pr_url,
            "node_id": f"PR_{repo.name}_{number}",
            "html_url": html_url,
            "diff_url": html_url + ".diff",
            "patch_url": html_url + ".patch",
            "issue_url": issue["url"],
            "commits_url": pr_url + "/commits",
            "comments_url": issue["comments_url"],
            "closed_at": None,
            "merged_at": None,
            "merge_commit_sha": None,
            "assignee": None,
            "assignees": [],
            "requested_reviewers": [],
            "requested_teams": [],
            "head": self._branch(head_repo or repo, head, (head_repo or repo).owner),
            "base": self._branch(repo, base or repo.default_branch, repo.owner),
            "author_association": "CONTRIBUTOR",
            "auto_merge": None,
            "draft": draft,
            # Only the single-PR endpoint sends the rest (see _pull).
            "_detail": {
                "merged": False,
                "mergeable": mergeable,
                "rebaseable": mergeable,
                "mergeable_state": mergeable_state,
                "merged_by": None,
                "comments": 0,
                "review_comments": 0,
                "maintainer_can_modify": False,
                "commits": 1,
                "additions": 10,
                "deletions": 2,
                "changed_files": 1,
            },
        }
        return repo.pulls[number]

    def add_file(self, repo: FakeRepo, path: str, content: bytes | str) -> None:
        repo.files[path] = content.encode() if isinstance(content, str) else content

    def posted(self, path_suffix: str, method: str = "POST") -> list[Recorded]:
        """The POST (or ``method``) requests whose path ends with ``path_suffix``."""
        return [r for r in self.requests if r.method == method and r.path.endswith(path_suffix)]

    # -- JSON pieces -------------------------------------------------------------

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    def _stamp(self) -> str:
        moment = datetime(2024, 5, 1, tzinfo=UTC) + timedelta(minutes=self._ids)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    def _label(self, name: str) -> dict[str, Any]:
        return {
            "id": sum(map(ord, name)),
            "node_id": f"LA_{name}",
            "url": f"{self.base_url}/labels/{name}",
            "name": name,
            "description": None,
            "color": "ededed",
            "default": False,
        }

    def _branch(self, repo: FakeRepo, ref: str, owner: str) -> dict[str, Any]:
        return {
            "label": f"{owner}:{ref}",
            "ref": ref,
            "sha": hashlib.sha1(ref.encode()).hexdigest(),
            "user": _user(owner),
            "repo": self._repo_json(repo),
        }

    def _repo_json(self, repo: FakeRepo) -> dict[str, Any]:
        return {
            "id": sum(map(ord, repo.full_name)),
            "node_id": f"R_{repo.name}",
            "name": repo.name,
            "full_name": repo.full_name,
            "owner": _user(repo.owner),
            "private": False,
            "html_url": f"{HTML_ROOT}/{repo.full_name}",
            "description": repo.description,
            "fork": repo.fork_of is not None,
            "url": f"{self.base_url}/repos/{repo.full_name}",
            "forks_url": f"{self.base_url}/repos/{repo.full_name}/forks",
            "stargazers_url": f"{self.base_url}/repos/{repo.full_name}/stargazers",
            "contributors_url": f"{self.base_url}/repos/{repo.full_name}/contributors",
            "language": repo.language,
            "forks_count": len(self._forks_of(repo)),
            "stargazers_count": repo.stars,
            "watchers_count": repo.stars,
            "open_issues_count": sum(i["state"] == "open" for i in repo.issues.values()),
            "default_branch": repo.default_branch,
            "topics": [],
            "visibility": "public",
            "archived": False,
            "created_at": self._created(repo),
            "updated_at": "2024-05-01T00:00:00Z",
            "pushed_at": "2024-05-01T00:00:00Z",
        }

    def _created(self, repo: FakeRepo) -> str:
        moment = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(days=repo.created)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    def _forks_of(self, repo: FakeRepo) -> list[FakeRepo]:
        return [r for r in self.repos.values() if r.fork_of == repo.full_name]

    def _entry(self, repo: FakeRepo, path: str, is_dir: bool) -> dict[str, Any]:
        api_url = f"{self.base_url}/repos/{repo.full_name}/contents/{path}"
        html_url = f"{HTML_ROOT}/{repo.full_name}/{'tree' if is_dir else 'blob'}/main/{path}"
        data = b"" if is_dir else repo.files[path]
        sha = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # git's blob id
        git_url = (
            f"{self.base_url}/repos/{repo.full_name}/git/{'trees' if is_dir else 'blobs'}/{sha}"
        )
        return {
            "type": "dir" if is_dir else "file",
            "size": len(data),
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "sha": sha,
            "url": api_url,
            "git_url": git_url,
            "html_url": html_url,
            "download_url": None if is_dir else f"{HTML_ROOT}/raw/{repo.full_name}/main/{path}",
            "_links": {"self": api_url, "git": git_url, "html": html_url},
        }

    # -- HTTP plumbing -------------------------------------------------------------

    @asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        self.started.set()
        yield

    def _guard(self, handler: Handler) -> Handler:
        """Record the request, then answer 401 or the rate limit before the handler runs."""

        async def endpoint(request: Request) -> Response:
            raw = await request.body()
            self.requests.append(
                Recorded(
                    method=request.method,
                    path=request.url.path,
                    query=dict(request.query_params),
                    headers=dict(request.headers),
                    json=json.loads(raw) if raw else None,
                )
            )
            if request.headers.get("authorization") != f"Bearer {self.token}":
                return _error(401, "Bad credentials")
            if self.rate_limit is not None:
                return self._limited(self.rate_limit)
            response: Response = await handler(request)
            response.headers.update({"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "4999"})
            return response

        return endpoint

    def _limited(self, limit: RateLimit) -> Response:
        headers = {
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": "0",
            "x-ratelimit-used": "5000",
            "x-ratelimit-reset": str(limit.reset),
            "x-ratelimit-resource": "core",
        }
        if limit.retry_after is not None:
            headers["retry-after"] = str(limit.retry_after)
        message = (
            "API rate limit exceeded for user ID 1."
            if limit.status == 403
            else "You have exceeded a secondary rate limit. Please wait a few minutes."
        )
        body = {"message": message, "documentation_url": f"{DOCS}/rate-limit"}
        return JSONResponse(body, status_code=limit.status, headers=headers)

    async def _not_found(self, _request: Request, _exc: Exception) -> Response:
        return _error(404, "Not Found")

    def _repo(self, request: Request) -> FakeRepo:
        repo = self.repos.get(f"{request.path_params['owner']}/{request.path_params['repo']}")
        if repo is None:
            raise HTTPException(404)
        return repo

    def _paged(
        self, request: Request, items: list[Any], wrap: dict[str, Any] | None = None
    ) -> Response:
        """One page of ``items`` with GitHub's Link header (first/prev/next/last)."""
        per_page = min(int(request.query_params.get("per_page", 30)), self.max_per_page)
        page = int(request.query_params.get("page", 1))
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        links = {"first": 1, "prev": page - 1} if page > 1 else {}
        links |= {"next": page + 1, "last": last} if page < last else {}
        link = ", ".join(
            f'<{request.url.include_query_params(page=n, per_page=per_page)}>; rel="{rel}"'
            for rel, n in links.items()
        )
        body = chunk if wrap is None else wrap | {"items": chunk}
        return JSONResponse(body, headers={"link": link} if link else None)

    # -- endpoints -----------------------------------------------------------------

    async def _issues(self, request: Request) -> Response:
        repo = self._repo(request)
        if request.method == "POST":
            payload = await request.json()
            if not payload.get("title"):
                errors = [{"resource": "Issue", "code": "missing_field", "field": "title"}]
                return _error(422, "Validation Failed", errors=errors)
            issue = self.add_issue(
                repo, payload["title"], payload.get("body"), tuple(payload.get("labels", ()))
            )
            return JSONResponse(issue, status_code=201, headers={"location": issue["url"]})
        state = request.query_params.get("state", "open")
        wanted = {name for name in request.query_params.get("labels", "").split(",") if name}
        found = [
            issue
            for issue in sorted(repo.issues.values(), key=lambda i: -i["number"])  # newest first
            if state in ("all", issue["state"])
            and wanted <= {label["name"] for label in issue["labels"]}
        ]
        return self._paged(request, found)

    async def _issue(self, request: Request) -> Response:
        repo = self._repo(request)
        issue = repo.issues.get(request.path_params["number"])
        if issue is None:
            raise HTTPException(404)
        if request.method == "PATCH":
            changes = await request.json()
            state = changes.get("state", issue["state"])
            if state not in ("open", "closed"):
                errors = [{"resource": "Issue", "code": "invalid", "field": "state"}]
                return _error(422, "Validation Failed", errors=errors)
            if state != issue["state"]:
                closed = state == "closed"
                issue["closed_at"] = self._stamp() if closed else None
                issue["state_reason"] = "completed" if closed else "reopened"
            issue |= {k: changes[k] for k in ("title", "body") if k in changes}
            if "labels" in changes:  # the list replaces the labels; new names are created
                issue["labels"] = [self._label(name) for name in changes["labels"]]
            issue["state"], issue["updated_at"] = state, self._stamp()
            if pull := repo.pulls.get(issue["number"]):
                pull |= {k: issue[k] for k in ("state", "title", "body", "labels", "updated_at")}
        return JSONResponse(issue)

    async def _comment(self, request: Request) -> Response:
        issue = self._repo(request).issues.get(request.path_params["number"])
        if issue is None:
            raise HTTPException(404)
        body = (await request.json()).get("body")
        if not body:
            errors = [{"resource": "IssueComment", "code": "missing_field", "field": "body"}]
            return _error(422, "Validation Failed", errors=errors)
        issue["comments"] += 1
        comment_id = self._next_id()
        stamp = self._stamp()
        comment = {
            "id": comment_id,
            "node_id": f"IC_{comment_id}",
            "url": f"{self.base_url}/repos/comments/{comment_id}",
            "html_url": f"{issue['html_url']}#issuecomment-{comment_id}",
            "body": body,
            "user": _user("octocat"),
            "created_at": stamp,
            "updated_at": stamp,
            "issue_url": issue["url"],
            "author_association": "OWNER",
        }
        return JSONResponse(comment, status_code=201)

    async def _pulls(self, request: Request) -> Response:
        if request.method == "POST":
            return await self._open_pull(request)
        state = request.query_params.get("state", "open")
        found = [
            {k: v for k, v in pull.items() if k != "_detail"}
            for pull in sorted(self._repo(request).pulls.values(), key=lambda p: -p["number"])
            if state in ("all", pull["state"])
        ]
        return self._paged(request, found)

    async def _pull(self, request: Request) -> Response:
        pull = self._repo(request).pulls.get(request.path_params["number"])
        if pull is None:
            raise HTTPException(404)
        return JSONResponse({k: v for k, v in pull.items() if k != "_detail"} | pull["_detail"])

    async def _open_pull(self, request: Request) -> Response:
        """POST /pulls, refusing with 422 what GitHub refuses."""
        repo = self._repo(request)
        payload = await request.json()
        head, base = str(payload.get("head") or ""), str(payload.get("base") or "")
        missing = [k for k in ("title", "head", "base") if not payload.get(k)]
        if missing:
            errors = [
                {"resource": "PullRequest", "code": "missing_field", "field": k} for k in missing
            ]
            return _error(422, "Validation Failed", errors=errors)
        # A head in a fork is written "owner:branch"; a plain branch is in this repository.
        head_owner, _, branch = head.rpartition(":")
        head_repo = repo
        if head_owner and head_owner != repo.owner:
            no_such_fork = FakeRepo(owner=head_owner, name=repo.name, refs=set())  # no branches
            forks = (f for f in self._forks_of(repo) if f.owner == head_owner)
            head_repo = next(forks, no_such_fork)
        invalid = [
            {"resource": "PullRequest", "code": "invalid", "field": name}
            for name, ok in (("base", base in repo.refs), ("head", branch in head_repo.refs))
            if not ok
        ]
        if invalid:
            return _error(422, "Validation Failed", errors=invalid)
        label = f"{head_repo.owner}:{branch}"
        if any(p["state"] == "open" and p["head"]["label"] == label for p in repo.pulls.values()):
            message = f"A pull request already exists for {label}."
            return _error(422, "Validation Failed", errors=[self._custom(message)])
        if head_repo is repo and (branch == base or branch in repo.level):
            message = f"No commits between {base} and {branch}"
            return _error(422, "Validation Failed", errors=[self._custom(message)])
        pull = self.add_pull(
            repo,
            payload["title"],
            branch,
            payload.get("body"),
            draft=bool(payload.get("draft")),
            mergeable=None,  # GitHub works it out after answering
            mergeable_state="unknown",
            user="octocat",  # the token's owner
            base=base,
            head_repo=head_repo,
        )
        body = {k: v for k, v in pull.items() if k != "_detail"} | pull["_detail"]
        return JSONResponse(body, status_code=201, headers={"location": pull["url"]})

    @staticmethod
    def _custom(message: str) -> dict[str, str]:
        return {"resource": "PullRequest", "code": "custom", "message": message}

    async def _stargazers(self, request: Request) -> Response:
        return self._paged(request, [_user(login) for login in self._repo(request).stargazers])

    async def _contributors(self, request: Request) -> Response:
        repo = self._repo(request)
        if repo.empty:
            return Response(status_code=204)
        ranked = sorted(repo.contributors.items(), key=lambda kv: -kv[1])  # most commits first
        return self._paged(request, [_user(login) | {"contributions": n} for login, n in ranked])

    async def _forks(self, request: Request) -> Response:
        forks = self._forks_of(self._repo(request))
        order = request.query_params.get("sort", "newest")
        if order == "stargazers":
            forks.sort(key=lambda r: -r.stars)
        else:
            forks.sort(key=lambda r: r.created, reverse=order != "oldest")
        return self._paged(request, [self._repo_json(fork) for fork in forks])

    async def _profile(self, request: Request) -> Response:
        profile = self.users.get(request.path_params["username"])
        if profile is None:
            raise HTTPException(404)
        return JSONResponse(profile)

    async def _contents(self, request: Request) -> Response:
        repo = self._repo(request)
        ref = request.query_params.get("ref")
        if ref is not None and ref not in repo.refs:
            return _error(404, f"No commit found for the ref {ref}")
        path = request.path_params.get("path", "").strip("/")
        if path in repo.files:
            entry = self._entry(repo, path, is_dir=False)
            encoded = base64.b64encode(repo.files[path]).decode()
            # GitHub wraps the base64 at 60 characters with newlines.
            lines = [encoded[i : i + 60] for i in range(0, len(encoded), 60)]
            return JSONResponse(entry | {"encoding": "base64", "content": "\n".join(lines) + "\n"})
        prefix = f"{path}/" if path else ""
        children: dict[str, bool] = {}  # child path → is a directory
        for file_path in repo.files:
            if file_path.startswith(prefix):
                head, _, rest = file_path[len(prefix) :].partition("/")
                children[prefix + head] = children.get(prefix + head, False) or bool(rest)
        if not children:
            raise HTTPException(404)
        return JSONResponse([self._entry(repo, p, d) for p, d in sorted(children.items())])

    def _matches(self, query: str, text: str, repo: FakeRepo) -> bool:
        """A small part of GitHub's query syntax: bare words and the repo:/user: qualifiers;
        forks only with fork:true, as on GitHub."""
        if repo.fork_of is not None and "fork:true" not in query.split():
            return False
        for term in query.split():
            key, _, value = term.partition(":")
            if key == "fork":
                ok = True
            elif key == "repo" and value:
                ok = repo.full_name == value
            elif key in ("user", "org") and value:
                ok = repo.owner == value
            else:
                ok = term.lower() in text.lower()
            if not ok:
                return False
        return True

    async def _search_repositories(self, request: Request) -> Response:
        query = request.query_params.get("q", "")
        if not query:
            return _error(
                422,
                "Validation Failed",
                errors=[{"resource": "Search", "field": "q", "code": "missing"}],
            )
        found = [
            self._repo_json(repo) | {"score": 1.0}
            for repo in sorted(self.repos.values(), key=lambda r: -r.stars)
            if self._matches(query, f"{repo.full_name} {repo.description or ''}", repo)
        ]
        wrap = {"total_count": len(found), "incomplete_results": False}
        return self._paged(request, found, wrap)

    async def _search_code(self, request: Request) -> Response:
        query = request.query_params.get("q", "")
        found = []
        for repo in self.repos.values():
            for path, data in sorted(repo.files.items()):
                if self._matches(query, data.decode(errors="replace"), repo):
                    entry = self._entry(repo, path, is_dir=False)
                    keep = ("name", "path", "sha", "url", "git_url", "html_url")
                    found.append(
                        {k: entry[k] for k in keep}
                        | {"repository": self._repo_json(repo), "score": 1.0}
                    )
        wrap = {"total_count": len(found), "incomplete_results": False}
        return self._paged(request, found, wrap)


@contextmanager
def running_fake_github(token: str, prefix: str = "") -> Iterator[FakeGitHub]:
    """Serve a fresh fake on 127.0.0.1 (an OS-chosen port) for the duration of the block."""
    fake = FakeGitHub(token, prefix)
    with serve_in_thread(fake.app, fake.started, "GitHub API") as port:
        fake.base_url = f"http://127.0.0.1:{port}{prefix}"
        yield fake


@contextmanager
def one_test(fake: FakeGitHub) -> Iterator[FakeGitHub]:
    """A fake shared by a module, for one test: its records cleared first, and the
    switches a test may flip (token, rate limit, page size) put back afterwards."""
    token = fake.token
    fake.requests.clear()
    try:
        yield fake
    finally:
        fake.token, fake.rate_limit, fake.max_per_page = token, None, 100
