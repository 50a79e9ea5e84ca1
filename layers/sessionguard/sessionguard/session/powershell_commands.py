"""What a PowerShell or cmd command word means, for normalization (powershell.py): aliases, command paths,
powershell.exe's abbreviated options, and which arguments are themselves code to read again.

Everything here takes words already lowered and unquoted. The tables are data a reviewer can check against
PowerShell's documentation (about_Aliases; `Get-Alias` on Windows PowerShell 5.1; about_PowerShell_exe).
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Final

__all__ = [
    "ALIASES",
    "command_name",
    "decode_base64_script",
    "powershell_option",
    "powershell_option_value",
]

# Windows PowerShell 5.1's built-in aliases that attackers and cheat sheets use, and the common ones admins type.
# `sc` (Set-Content in 5.1) and `curl`/`wget` (Invoke-WebRequest) are kept: `sc.exe` loses its extension below and
# would otherwise read as Set-Content, so `sc` stays `sc`; curl and wget are the web request either way.
ALIASES: Final = {
    "iex": "invoke-expression",
    "icm": "invoke-command",
    "iwr": "invoke-webrequest",
    "wget": "invoke-webrequest",
    "curl": "invoke-webrequest",
    "irm": "invoke-restmethod",
    "gci": "get-childitem",
    "dir": "get-childitem",
    "ls": "get-childitem",
    "sal": "set-alias",
    "nal": "new-alias",
    "saps": "start-process",
    "start": "start-process",
    "gc": "get-content",
    "cat": "get-content",
    "type": "get-content",
    "gwmi": "get-wmiobject",
    "iwmi": "invoke-wmimethod",
    "gcim": "get-ciminstance",
    "icim": "invoke-cimmethod",
    "ri": "remove-item",
    "rm": "remove-item",
    "del": "remove-item",
    "erase": "remove-item",
    "rd": "remove-item",
    "rmdir": "remove-item",
    "cp": "copy-item",
    "copy": "copy-item",
    "cpi": "copy-item",
    "mv": "move-item",
    "move": "move-item",
    "mi": "move-item",
    "ni": "new-item",
    "sp": "set-itemproperty",
    "gp": "get-itemproperty",
    "spps": "stop-process",
    "kill": "stop-process",
    "ipmo": "import-module",
    "gcm": "get-command",
    "%": "foreach-object",
    "foreach": "foreach-object",
    "?": "where-object",
    "where": "where-object",
    "echo": "write-output",
    "write": "write-output",
    "sv": "set-variable",
    "set": "set-variable",
    "gv": "get-variable",
    "ps": "get-process",
    "gps": "get-process",
    "gsv": "get-service",
    "sasv": "start-service",
    "spsv": "stop-service",
    "ii": "invoke-item",
    "cls": "clear-host",
    "clc": "clear-content",
    "rp": "remove-itemproperty",
    "rni": "rename-item",
    "ren": "rename-item",
    "gi": "get-item",
    "si": "set-item",
    "ac": "add-content",
    "sls": "select-string",
    "ogv": "out-gridview",
    "epal": "export-alias",
    "ipal": "import-alias",
    "nsn": "new-pssession",
    "etsn": "enter-pssession",
    "nmo": "new-module",
}
_EXECUTABLE_SUFFIXES: Final = (".exe", ".com")

# powershell.exe / pwsh options: a unique prefix is accepted, and these short forms are documented or in common use
# (`-e`, `-ec`, `-enc` for -EncodedCommand; `-ep`/`-ex` for -ExecutionPolicy; `-w` for -WindowStyle).
_POWERSHELL_OPTIONS: Final = (
    "command",
    "configurationname",
    "encodedarguments",
    "encodedcommand",
    "executionpolicy",
    "file",
    "inputformat",
    "mta",
    "noexit",
    "nologo",
    "noninteractive",
    "noprofile",
    "outputformat",
    "psconsolefile",
    "sta",
    "version",
    "windowstyle",
)
_SHORT_OPTIONS: Final = {
    "c": "command",
    "e": "encodedcommand",
    "ec": "encodedcommand",
    "en": "encodedcommand",
    "enc": "encodedcommand",
    "ep": "executionpolicy",
    "ex": "executionpolicy",
    "exe": "executionpolicy",
    "exec": "executionpolicy",
    "f": "file",
    "w": "windowstyle",
    "nop": "noprofile",
    "noni": "noninteractive",
    "nol": "nologo",
    "v": "version",
}
_OPTION_VALUES: Final = {
    "windowstyle": ("hidden", "normal", "minimized", "maximized"),
    "executionpolicy": ("bypass", "unrestricted", "remotesigned", "allsigned", "restricted", "default", "undefined"),
}
_WINDOW_STYLE_NUMBERS: Final = {"0": "normal", "1": "hidden", "2": "minimized", "3": "maximized"}
_BASE64: Final = re.compile(r"[A-Za-z0-9+/]{8,}+={0,2}")
MAX_DECODED: Final = 1 << 20  # a decoded script longer than this is read in part


def command_name(word: str) -> str:
    """A command word as rules see it: lower-case, without its directory (`C:\\Windows\\System32\\cmd.exe`),
    without .exe/.com, aliases expanded (only for a bare name: `curl.exe` is curl, `curl` is Invoke-WebRequest). A
    call operator's quoted path arrives here unquoted."""
    name = word.lower()
    cut = max(name.rfind("\\"), name.rfind("/"))
    if cut >= 0 and cut < len(name) - 1:
        name = name[cut + 1 :]
    if name.endswith(_EXECUTABLE_SUFFIXES):
        return name[:-4]  # a program file (`write.exe`, `curl.exe`), never an alias
    return name if cut >= 0 else ALIASES.get(name, name)


def powershell_option(word: str) -> str | None:
    """The full name of a powershell.exe option (`-nop` → `-noprofile`, `/enc` → `-encodedcommand`), or None when
    the word is not one. A prefix names an option when it names only one."""
    if len(word) < 2 or word[0] not in "-/":
        return None
    key = word[1:].lower()
    if key in _SHORT_OPTIONS:
        return "-" + _SHORT_OPTIONS[key]
    found = [option for option in _POWERSHELL_OPTIONS if option.startswith(key)]
    return "-" + found[0] if len(found) == 1 else None


def powershell_option_value(option: str, value: str) -> str:
    """An option's value in full: `-w 1` and `-w h` are `-windowstyle hidden`, `-ep b` is `-executionpolicy bypass`."""
    value = value.lower()
    if option == "-windowstyle" and value in _WINDOW_STYLE_NUMBERS:
        return _WINDOW_STYLE_NUMBERS[value]
    for full in _OPTION_VALUES.get(option.lstrip("-"), ()):
        if value and full.startswith(value):
            return full
    return value


def decode_base64_script(text: str) -> str | None:
    """The script a base64 argument holds: UTF-16LE as -EncodedCommand requires, or UTF-8/ASCII text as
    [Convert]::FromBase64String often carries; None when it is not base64 of printable text."""
    compact = "".join(text.split())
    if not _BASE64.fullmatch(compact):
        return None
    compact = compact[: MAX_DECODED * 2]
    try:
        data = base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(data) >= 2 and data[1::2].count(0) * 2 >= len(data) // 2:  # every other byte zero: UTF-16LE
        decoded = data.decode("utf-16-le", "replace")
    else:
        decoded = data.decode("utf-8", "replace")
    # Scripts are text, nearly all ASCII; random bytes decode to replacement characters and scattered code points.
    text_like = sum(" " <= char <= "~" or char in "\r\n\t" for char in decoded)
    return decoded if decoded and text_like >= 0.9 * len(decoded) else None
