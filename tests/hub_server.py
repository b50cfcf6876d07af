"""A Hub-compatible HTTP endpoint on 127.0.0.1, in memory: the routes huggingface_hub uses to
create a repo, commit files (regular uploads), describe a revision, list its tree and serve files."""
from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse

REPO = r"(?P<repo>[\w.-]+/[\w.-]+)"


class FakeHub:
    def __init__(self, token: str = "hf_test_token"):
        self.token = token
        self.repos: dict[str, dict] = {}  # repo_id -> {"files": {path: bytes}, "sha": str, "private": bool}
        self.requests: list[str] = []
        self.break_downloads = False  # send half of each file, then drop the connection
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, status, body=b"", headers=None, error_code=None):
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                if error_code:
                    self.send_header("X-Error-Code", error_code)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def authorized(self):
                return self.headers.get("Authorization") == f"Bearer {hub.token}"

            def body(self):
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def route(self):
                path = unquote(urlparse(self.path).path)
                hub.requests.append(f"{self.command} {path}")
                if self.command == "POST" and path == "/api/repos/create":
                    if not self.authorized():
                        return self.reply(401, {"error": "Invalid credentials in Authorization header"})
                    request = json.loads(self.body())
                    repo_id = f"{request.get('organization') or 'user'}/{request['name']}"
                    # Spaces live beside models under "spaces/owner/name" (as in their URLs).
                    key = f"spaces/{repo_id}" if request.get("type") == "space" else repo_id
                    if request.get("type") == "space" and not request.get("sdk"):
                        return self.reply(400, {"error": "sdk is required for spaces"})
                    if key in hub.repos:
                        return self.reply(409, {"error": "You already created this repo", "url": f"{hub.url}/{key}"})
                    hub.repos[key] = {"files": {}, "sha": "0" * 40, "private": request.get("visibility") == "private",
                                      "sdk": request.get("sdk")}
                    return self.reply(200, {"url": f"{hub.url}/{key}"})
                if self.command == "POST" and path == "/api/validate-yaml":
                    self.body()
                    return self.reply(200, {"errors": [], "warnings": []})
                match = re.fullmatch(rf"/api/(?P<kind>models|spaces)/{REPO}(?:/(?P<action>preupload|commit|revision|tree)/(?P<rev>[^/]+)(?P<rest>/.*)?)?", path)
                if match:
                    key = ("spaces/" if match["kind"] == "spaces" else "") + match["repo"]
                    return self.api(key, match["action"] or "revision", match["rev"] or "main")
                match = re.fullmatch(rf"/(?P<spaces>spaces/)?{REPO}/resolve/(?P<rev>[^/]+)/(?P<file>.+)", path)
                if match:
                    return self.resolve((match["spaces"] or "") + match["repo"], match["file"])
                return self.reply(404, {"error": "not found"})

            def api(self, repo_id, action, revision):
                repo = hub.repos.get(repo_id)
                if repo is None or (repo["private"] and not self.authorized()):
                    return self.reply(404, {"error": "Repository not found"}, error_code="RepoNotFound")
                if action in ("preupload", "commit") and not self.authorized():
                    return self.reply(401, {"error": "Invalid credentials"})
                if revision not in ("main", repo["sha"]):
                    return self.reply(404, {"error": "Invalid rev id"}, error_code="RevisionNotFound")
                if action == "preupload":
                    files = json.loads(self.body())["files"]
                    return self.reply(200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                                      for f in files]})
                if action == "commit":
                    for line in self.body().splitlines():
                        item = json.loads(line)
                        if item["key"] == "file":
                            repo["files"][item["value"]["path"]] = base64.b64decode(item["value"]["content"])
                        elif item["key"] == "deletedFile":
                            repo["files"].pop(item["value"]["path"], None)
                    repo["sha"] = hashlib.sha1(json.dumps(sorted((p, hashlib.sha1(c).hexdigest())
                                                                for p, c in repo["files"].items())).encode()).hexdigest()
                    return self.reply(200, {"commitUrl": f"{hub.url}/{repo_id}/commit/{repo['sha']}",
                                            "commitOid": repo["sha"]})
                if action == "tree":
                    return self.reply(200, [{"type": "file", "path": p, "size": len(c), "oid": hashlib.sha1(c).hexdigest()}
                                            for p, c in sorted(repo["files"].items())])
                blobs = "blobs=true" in (urlparse(self.path).query or "")  # files_metadata=True: sizes too
                return self.reply(200, {"id": repo_id, "modelId": repo_id, "sha": repo["sha"], "private": repo["private"],
                                        "siblings": [{"rfilename": p, **({"size": len(c)} if blobs else {})}
                                                     for p, c in sorted(repo["files"].items())]})

            def resolve(self, repo_id, filename):
                repo = hub.repos.get(repo_id)
                if repo is None:
                    return self.reply(404, {"error": "Repository not found"}, error_code="RepoNotFound")
                if filename not in repo["files"]:
                    return self.reply(404, {"error": "Entry not found"}, error_code="EntryNotFound",
                                      headers={"X-Repo-Commit": repo["sha"]})
                content = repo["files"][filename]
                if hub.break_downloads and self.command == "GET":
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(content)))
                    self.send_header("X-Repo-Commit", repo["sha"])
                    self.send_header("ETag", f'"{hashlib.sha1(content).hexdigest()}"')
                    self.end_headers()
                    self.wfile.write(content[:len(content) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return None
                return self.reply(200, content, headers={"X-Repo-Commit": repo["sha"],
                                                         "ETag": f'"{hashlib.sha1(content).hexdigest()}"'})

            do_GET = do_POST = do_HEAD = route

        return Handler
