"""User-facing errors. Each renders as a few short lines in IPython (no Python internals)."""


class WasixError(Exception):
    """Base class of everything wasix_nb raises about a program."""

    def _render_traceback_(self):
        return [
            f"{type(self).__name__}: {line}" if i == 0 else line
            for i, line in enumerate(str(self).splitlines() or [""])
        ]


class WatSyntaxError(WasixError):
    """The WAT text does not parse; the message has the line, column and a caret."""


class CompileError(WasixError):
    """The module is not valid WebAssembly."""


class MissingImports(WasixError):
    """The program imports functions the host does not provide (listed one per line)."""

    def __init__(self, missing):
        self.missing = list(missing)
        lines = "\n".join(f"  {m}.{n}: {t}" for m, n, t in self.missing)
        super().__init__(
            f"the program imports {len(self.missing)} thing(s) the host does not provide:\n{lines}\n"
            "(run with --stub-missing to link them as stubs that return NOSYS)"
        )


class NoEntry(WasixError):
    """No entry point: the function to call (default `_start`) is not exported."""


class SourceNotFound(WasixError, FileNotFoundError):
    """The program file does not exist (also a FileNotFoundError)."""

    def __init__(self, path):
        super().__init__(f"file not found: {path}")
        self.filename = path

    def __str__(self):
        return f"file not found: {self.filename}"


class ProgramError(WasixError):
    """The program ended badly; `.result` has its output, trace and descriptor table."""

    def __init__(self, message, result):
        super().__init__(message)
        self.result = result


class ProgramTrapped(ProgramError):
    pass


class ProgramExit(ProgramError):
    """Non-zero exit status (like `subprocess.CalledProcessError`)."""

    @property
    def returncode(self):
        return self.result.exit_code


class ProgramTimeout(ProgramError):
    pass


class ProgramInterrupted(ProgramError):
    pass


class ProgramKilled(ProgramError):
    pass
