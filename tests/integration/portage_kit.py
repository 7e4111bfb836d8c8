"""Real portage 3.0.83 in a subprocess with a private, throw-away EPREFIX, for checking what the swarm publishes.

PORTAGE_OVERRIDE_EPREFIX is set before portage is imported, so nothing touches the host's
/etc/portage or /var/db. The driver uses portage only, never swarm_celery.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

DRIVER = r'''
import atexit, io, json, os, shutil, sys, tempfile
req = json.loads(sys.argv[1])
root = tempfile.mkdtemp(prefix="swarm-binhost-test-")
atexit.register(shutil.rmtree, root, True)
os.environ["PORTAGE_OVERRIDE_EPREFIX"] = root
for d in ("etc/portage", "var/db/pkg", "var/lib/portage", "var/cache/edb", "var/tmp", "share/portage", "usr/share/portage"):
    os.makedirs(os.path.join(root, d), exist_ok=True)
for d in ("share/portage/config", "usr/share/portage/config"):
    os.symlink(os.path.join(sys.prefix, "share/portage/config"), os.path.join(root, d))
with open(os.path.join(root, "etc/portage/make.conf"), "w") as f:
    f.write(req.get("make_conf", "") + '\nPKGDIR="%s"\nPORTAGE_TMPDIR="%s/var/tmp"\n' % (req.get("pkgdir", root + "/pkgdir"), root))
if req.get("binhost"):
    with open(os.path.join(root, "etc/portage/binrepos.conf"), "w") as f:
        f.write("[swarm]\nsync-uri = file://%s\nverify-signature = false\n" % req["binhost"])
import portage, portage.gpkg, portage.binpkg
from portage.dbapi.bintree import binarytree
settings = portage.config(config_root=root, target_root=root, eprefix=root)
out = {"eprefix": portage.const.EPREFIX}

def read(path):
    res = {"format": portage.binpkg.get_binpkg_format(path, check_file=True)}
    pkg = portage.gpkg.gpkg(settings, None, path)
    res["metadata"] = {k: (v.decode() if v is not None else None) for k, v in pkg.get_metadata(req["keys"]).items()}
    pkg._verify_binpkg()
    dest = tempfile.mkdtemp(dir=root)
    pkg.decompress(dest)
    res["image"] = {os.path.relpath(os.path.join(d, n), dest): [open(os.path.join(d, n), "rb").read().hex(), oct(os.lstat(os.path.join(d, n)).st_mode & 0o777)]
                    for d, _, names in os.walk(dest) for n in names}
    return res

if req["op"] == "read":
    for path in req["paths"]:
        try:
            out[path] = read(path)
        except Exception as exc:
            out[path] = {"error": "%s: %s" % (type(exc).__name__, exc)}
elif req["op"] == "write":
    pkg = portage.gpkg.gpkg(settings, req["basename"], req["path"])
    pkg.compress(req["image_dir"], req["metadata"])
elif req["op"] == "pkgindex":
    idx = binarytree(pkgdir=settings["PKGDIR"], settings=settings)._new_pkgindex()
    idx.read(io.StringIO(req["text"]))
    out["header"], out["packages"] = idx.header, [dict(d) for d in idx.packages]
    idx.modified = False
    buf = io.StringIO()
    idx.write(buf)
    out["rewritten"] = buf.getvalue()
elif req["op"] == "bintree":
    bt = binarytree(pkgdir=settings["PKGDIR"], settings=settings)
    bt.populate(getbinpkgs=bool(req.get("binhost")))
    out["cpvs"] = sorted(bt.dbapi.cpv_all())
    out["aux"] = {c: dict(zip(req["keys"], bt.dbapi.aux_get(c, req["keys"]))) for c in bt.dbapi.cpv_all()}
    out["remote"] = {c: bool(bt.isremote(c)) for c in bt.dbapi.cpv_all()}
    out["invalids"] = list(bt.invalids) + sorted(bt.invalid_paths)
print(json.dumps(out))
'''


def portage_run(tmp_path: Path, request: dict[str, Any]) -> dict[str, Any]:
    script = tmp_path / "portage_driver.py"
    script.write_text(DRIVER)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAGE_", "PKGDIR", "FEATURES"))}
    proc = subprocess.run([sys.executable, str(script), json.dumps(request)], capture_output=True, text=True, timeout=600, env=env, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["eprefix"].startswith(os.path.join(tempfile.gettempdir(), "swarm-binhost-test-")), result["eprefix"]
    return result
