"""Files for programs: preopened host directories, confined path resolution, files and directories as
descriptors, /dev.  See docs/files.md."""

from .files import Dir, File, OsFile  # noqa: F401
from .preopen import DirSpec, parse  # noqa: F401
from .resolve import Root


def install(host, dirs):
    """Open each preopen (in order: fds 3, 4, ... when nothing else is open yet); returns the Roots,
    whose references the host drops when the process ends."""
    roots = []
    try:
        for spec in parse(dirs):
            root = Root(spec.host, spec.guest, spec.ro)
            roots.append(root)
            host.fds.add(Dir(root.fd, root, (), preopen=True))
    except BaseException:
        for r in roots:
            r.drop()
        raise
    return roots
