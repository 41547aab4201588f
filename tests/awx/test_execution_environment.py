# SPDX-License-Identifier: GPL-3.0-or-later
"""awx/execution-environment.yml is accepted by `ansible-builder create`, and the build context it gives holds
our collection (built from this checkout) and its requirements. Runs in .venv-awx (`make test-awx`).

Building the image is not tested: it pulls the base image from a container registry this machine cannot reach.
What the image build would do with the context is run here where it can be: the galaxy stage's install of the
collection archive (from the context directory, as the Containerfile does) and ansible-builder's own
dependency introspection over the installed collection.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile

import pytest
import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.dirname(sys.executable)


def _run(argv, cwd=None, timeout=300, collections=None):
    env = dict(os.environ, ANSIBLE_NOCOLOR="1")
    if collections is not None:
        # As in the image build: only the target path, not this checkout's .collections link (`make` exports
        # ANSIBLE_COLLECTIONS_PATH and ANSIBLE_CONFIG) nor collections on sys.path.
        env.pop("ANSIBLE_CONFIG", None)
        env.update(ANSIBLE_COLLECTIONS_PATH=str(collections), ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false")
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False,
                          stdin=subprocess.DEVNULL, env=env)


def _pin(path, package):
    with open(os.path.join(REPO, path), encoding="utf-8") as handle:
        match = re.search(rf"^{re.escape(package)}==(\S+)$", handle.read(), re.M)
    assert match, f"{path} pins no {package}"
    return match.group(1)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The committed EE definition and its files, copied unchanged; the collection archive built from this
    checkout where the definition expects it; then `ansible-builder create`."""
    work = tmp_path_factory.mktemp("ee")
    shutil.copy(os.path.join(REPO, "awx", "execution-environment.yml"), work / "execution-environment.yml")
    shutil.copytree(os.path.join(REPO, "awx", "ee"), work / "ee",
                    ignore=shutil.ignore_patterns("collections", "context"))
    # The tracked files only (as CI's clone has them; not local venvs or another engineer's half-written file).
    source = work / "source"
    listed = subprocess.run(["git", "-C", REPO, "ls-files", "-z"], capture_output=True, check=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        path = os.path.join(REPO, name)
        if os.path.isfile(path):
            os.makedirs(source / os.path.dirname(name), exist_ok=True)
            shutil.copy2(path, source / name, follow_symlinks=False)
    dist = work / "dist"
    build = _run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--force", "--output-path",
                  str(dist), str(source)])
    assert build.returncode == 0, build.stdout + build.stderr
    (archive,) = list(dist.glob("iser-ofed-*.tar.gz"))
    (work / "ee" / "collections").mkdir()
    shutil.copy(archive, work / "ee" / "collections" / "iser-ofed.tar.gz")
    context = work / "context"
    create = _run([os.path.join(BIN, "ansible-builder"), "create", "-f", str(work / "execution-environment.yml"),
                   "-c", str(context), "--output-filename", "Containerfile", "-v", "3"])
    return {"work": work, "archive": archive, "context": context, "create": create}


def test_ansible_builder_create_accepts_the_definition(built):
    create = built["create"]
    assert create.returncode == 0, create.stdout + create.stderr
    assert "No matches" not in create.stdout + create.stderr
    with open(os.path.join(REPO, "awx", "execution-environment.yml"), encoding="utf-8") as handle:
        definition = yaml.safe_load(handle)
    assert definition["version"] == 3
    containerfile = (built["context"] / "Containerfile").read_text(encoding="utf-8")
    assert f'ARG EE_BASE_IMAGE="{definition["images"]["base_image"]["name"]}"' in containerfile
    # the EE runs the ansible-core the collection is tested with
    core = _pin("requirements/dev.txt", "ansible-core")
    assert re.search(rf'^ARG ANSIBLE_INSTALL_REFS=".*ansible-core=={re.escape(core)}\b', containerfile, re.M)
    assert "ansible-galaxy collection install" in containerfile
    assert "introspect.py introspect --user-bindep=bindep.txt" in containerfile


def test_the_context_holds_our_collection_and_requirements(built):
    build_dir = built["context"] / "_build"
    archive = build_dir / "collections" / "iser-ofed.tar.gz"
    assert archive.read_bytes() == built["archive"].read_bytes()
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("MANIFEST.json"))
        names = set(tar.getnames())
    with open(os.path.join(REPO, "galaxy.yml"), encoding="utf-8") as handle:
        galaxy = yaml.safe_load(handle)
    info = manifest["collection_info"]
    assert (info["namespace"], info["name"], info["version"]) == ("iser", "ofed", galaxy["version"])
    assert {"roles/preflight/meta/argument_specs.yml", "playbooks/preflight.yml", "bindep.txt"} <= names
    with open(build_dir / "requirements.yml", encoding="utf-8") as handle:
        requirements = yaml.safe_load(handle)
    entries = {entry["name"]: entry for entry in requirements["collections"]}
    assert entries["collections/iser-ofed.tar.gz"]["type"] == "file"
    assert "community.general" in entries
    assert (build_dir / "bindep.txt").read_text(encoding="utf-8") == \
        open(os.path.join(REPO, "awx", "ee", "bindep.txt"), encoding="utf-8").read()


def test_the_galaxy_stage_installs_the_collection_from_the_context(built, tmp_path):
    """As the Containerfile's galaxy stage does (cwd = the context's _build, `-r requirements.yml`), for the
    entries that need no Galaxy server (the archive); community.general would come from Galaxy."""
    build_dir = built["context"] / "_build"
    with open(build_dir / "requirements.yml", encoding="utf-8") as handle:
        requirements = yaml.safe_load(handle)
    local = {"collections": [e for e in requirements["collections"] if e.get("type") == "file"]}
    (build_dir / "requirements-local.yml").write_text(yaml.safe_dump(local), encoding="utf-8")
    target = tmp_path / "collections"
    install = _run([os.path.join(BIN, "ansible-galaxy"), "collection", "install", "-r", "requirements-local.yml",
                    "--collections-path", str(target)], cwd=str(build_dir), collections=target)
    assert install.returncode == 0 and "ERROR" not in install.stdout + install.stderr, \
        install.stdout + install.stderr
    installed = target / "ansible_collections" / "iser" / "ofed"
    assert (installed / "roles" / "preflight" / "meta" / "argument_specs.yml").is_file(), install.stdout + install.stderr
    assert (installed / "playbooks" / "rollback.yml").is_file()

    # ansible-builder's own introspection (the builder stage) finds the collection's system dependencies.
    introspect = _run([sys.executable, str(build_dir / "scripts" / "introspect.py"), "introspect", str(target),
                       "--user-bindep", str(build_dir / "bindep.txt"),
                       "--write-bindep", str(tmp_path / "bindep.out"), "--write-pip", str(tmp_path / "pip.out")])
    assert introspect.returncode == 0, introspect.stdout + introspect.stderr
    combined = (tmp_path / "bindep.out").read_text(encoding="utf-8")
    assert re.search(r"^openssh-clients \[platform:rpm\]\s+# from collection iser\.ofed$", combined, re.M), combined
    assert re.search(r"^git-core \[platform:rpm\]\s+# from collection user$", combined, re.M), combined
    # and its Python requirements (requirements.txt: pycdlib reads .iso bundles on the controller), pinned as
    # the collection is tested
    pip = (tmp_path / "pip.out").read_text(encoding="utf-8")
    pycdlib = _pin("requirements/dev.txt", "pycdlib")
    assert re.search(rf"^pycdlib=={re.escape(pycdlib)}\s+# from collection iser\.ofed$", pip, re.M), pip


def test_ansible_builder_create_refuses_a_broken_definition(built, tmp_path):
    """The check above can fail: a definition that names a dependency file that is not there is refused."""
    with open(built["work"] / "execution-environment.yml", encoding="utf-8") as handle:
        definition = yaml.safe_load(handle)
    definition["dependencies"]["system"] = "ee/no-such-bindep.txt"
    broken = built["work"] / "broken.yml"
    broken.write_text(yaml.safe_dump(definition), encoding="utf-8")
    create = _run([os.path.join(BIN, "ansible-builder"), "create", "-f", str(broken), "-c", str(tmp_path / "c")])
    assert create.returncode != 0
    assert "no-such-bindep.txt does not exist" in create.stdout + create.stderr
