"""The GitHub tool server's results: pydantic models that validate GitHub's JSON directly.

They flatten its nested objects (user → login, labels → names, head → ref) so results
stay small for a model to read.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AliasChoices, BaseModel, BeforeValidator, Field


def _pluck(key: str) -> BeforeValidator:
    return BeforeValidator(lambda v: v.get(key) if isinstance(v, dict) else v)


def _pluck_each(key: str) -> BeforeValidator:
    return BeforeValidator(lambda vs: [v.get(key) if isinstance(v, dict) else v for v in vs or []])


Login = Annotated[str | None, _pluck("login")]
Names = Annotated[list[str], _pluck_each("name")]
Text = Annotated[str, BeforeValidator(lambda v: v or "")]  # GitHub sends null for no body


class Issue(BaseModel):
    number: int
    title: str
    state: str
    user: Login = None
    labels: Names = Field(default_factory=list)
    assignees: Annotated[list[str], _pluck_each("login")] = Field(default_factory=list)
    comments: int = 0
    body: Text = ""
    html_url: str
    created_at: str
    updated_at: str
    closed_at: str | None = None


class IssueList(BaseModel):
    issues: list[Issue]
    more: bool = Field(description="GitHub has more matching issues than `limit`")


class Comment(BaseModel):
    id: int
    user: Login = None
    body: Text = ""
    html_url: str
    created_at: str


class PullRequest(BaseModel):
    number: int
    title: str
    state: str
    user: Login = None
    draft: bool = False
    head: Annotated[str, _pluck("ref")]
    base: Annotated[str, _pluck("ref")]
    labels: Names = Field(default_factory=list)
    body: Text = ""
    html_url: str
    created_at: str
    updated_at: str
    merged_at: str | None = None
    # Only the single-PR endpoint has these; GitHub computes mergeable lazily (null at first).
    merged: bool | None = None
    mergeable: bool | None = None
    mergeable_state: str | None = None
    comments: int | None = None


class PullRequestList(BaseModel):
    pull_requests: list[PullRequest]
    more: bool = Field(description="GitHub has more matching pull requests than `limit`")


class Repository(BaseModel):
    full_name: str
    description: str | None = None
    html_url: str
    private: bool = False
    fork: bool = False
    language: str | None = None
    stars: int = Field(default=0, validation_alias=AliasChoices("stars", "stargazers_count"))
    default_branch: str | None = None
    updated_at: str | None = None


class RepositorySearch(BaseModel):
    total_count: int
    incomplete_results: bool
    items: list[Repository]


class CodeHit(BaseModel):
    repository: Annotated[str, _pluck("full_name")]
    path: str
    name: str
    sha: str
    html_url: str


class CodeSearch(BaseModel):
    total_count: int
    incomplete_results: bool
    items: list[CodeHit]


class DirEntry(BaseModel):
    name: str
    path: str
    type: str
    size: int


class FileContents(BaseModel):
    type: str = Field(description="file, dir, symlink or submodule")
    path: str
    name: str
    sha: str | None = None
    size: int | None = None
    html_url: str | None = None
    text: str | None = Field(default=None, description="the decoded UTF-8 text of a file")
    binary: bool = False
    note: str | None = None
    entries: list[DirEntry] = Field(default_factory=list, description="a directory's entries")


class Person(BaseModel):
    """A stargazer or contributor: GitHub's short user object."""

    login: str
    type: str = Field(default="User", description="User, Organization, or Bot for apps")
    html_url: str
    contributions: int | None = Field(default=None, description="commits (contributors only)")


class PeoplePage(BaseModel):
    people: list[Person]
    page: int
    more: bool = Field(description="GitHub has further pages")
    next_page: int | None = Field(default=None, description="pass as `page` for the next ones")


class Fork(BaseModel):
    full_name: str
    owner: Login = None
    description: str | None = None
    html_url: str
    stars: int = Field(default=0, validation_alias=AliasChoices("stars", "stargazers_count"))
    default_branch: str | None = None
    created_at: str | None = None
    pushed_at: str | None = None


class ForkPage(BaseModel):
    forks: list[Fork]
    page: int
    more: bool = Field(description="GitHub has further pages")
    next_page: int | None = Field(default=None, description="pass as `page` for the next ones")


Blank = Annotated[str | None, BeforeValidator(lambda v: v or None)]  # GitHub sends "" or null


class User(BaseModel):
    login: str
    type: str = "User"
    name: Blank = None
    company: Blank = None
    blog: Blank = None
    location: Blank = None
    email: Blank = Field(default=None, description="only when the user made it public")
    bio: Blank = None
    public_repos: int = 0
    followers: int = 0
    html_url: str
