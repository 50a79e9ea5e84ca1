"""The replay page: one self-contained HTML file, the recording and the vendored asciinema-player inlined.

Nothing is fetched when the page opens (no script, style, font or recording URL): the player's script and style are
inlined, the recording is a JSON island read with `JSON.parse`, and the player's WebAssembly ships inside its own
script. Every text of the recording is escaped for where it lands: HTML text through `html.escape`, the JSON island
with `<`, `>` and `&` as `\\u` escapes so that no session text can close the script element.

The page's location hash drives it without a mouse (a link to a moment, and the browser test): `#t=SECONDS` opens
at that time, `#alert=N` jumps to the N-th alert (1-based) as a click on it does, `#speed=N` plays N times as fast,
`#play` starts playing.
"""

from __future__ import annotations

import html
import json
from functools import cache
from importlib import resources
from typing import Final

from sessionguard.playback.recording import COLS, ROWS, Recording

PLAYER_VERSION: Final = "3.18.0"
SPEEDS: Final = (0.5, 1, 2, 4, 8)


@cache
def _vendored(name: str) -> str:
    text = resources.files("sessionguard.playback").joinpath("vendor", name).read_text(encoding="utf-8")
    closing = "</script" if name.endswith(".js") else "</style"
    if closing in text.lower():  # would end the inline element early; the player's bundle has none today
        raise ValueError(f"vendor/{name} contains {closing}: it cannot be inlined")
    return text


def _json_island(value: object) -> str:
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _clock(seconds: float) -> str:
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes:02d}:{rest:02d}"


def render_page(recording: Recording) -> str:
    data = {
        "cast": recording.to_cast(),
        "cols": COLS,
        "rows": ROWS,
        "alerts": [{"time": alert.time, "label": alert.label} for alert in recording.alerts],
    }
    alert_items = "\n".join(
        f'<li><button type="button" class="sg-alert sg-{html.escape(alert.severity)}" data-index="{index}">'
        f'<span class="sg-at">{_clock(alert.time)}</span> <b>{html.escape(alert.rule_id)}</b> '
        f"{html.escape(alert.severity)}: {html.escape(alert.title)}"
        f'<code>{html.escape(alert.command)}</code><span class="sg-when">{html.escape(alert.event_time)}</span>'
        "</button></li>"
        for index, alert in enumerate(recording.alerts)
    )
    speed_options = "".join(
        f'<option value="{speed}"{" selected" if speed == 1 else ""}>{speed}x</option>' for speed in SPEEDS
    )
    facts = (
        f"instance {html.escape(recording.instance_id or '?')} · user {html.escape(recording.user or '?')} · "
        f"started {html.escape(recording.started or 'unknown')} · {recording.commands} commands · "
        f"{len(recording.alerts)} alerts · {_clock(recording.duration)} played at {recording.paced_by}"
        + (" (idle gaps shortened)" if recording.paced_by == "event times" else "")
    )
    return _PAGE.format(
        title=html.escape(f"Session {recording.session_id}"),
        player_css=_vendored("asciinema-player.css"),
        player_js=_vendored("asciinema-player.min.js"),
        player_version=PLAYER_VERSION,
        facts=facts,
        speed_options=speed_options,
        alert_items=alert_items or '<li class="sg-none">No alerts in this session.</li>',
        data=_json_island(data),
    )


_PAGE: Final = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy"
 content="default-src 'none'; script-src 'unsafe-inline' 'wasm-unsafe-eval'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{player_css}</style>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5rem; background: #f6f7f9; color: #1b1f24; }}
h1 {{ font-size: 1.25rem; margin: 0 0 .25rem; }}
.sg-facts {{ color: #555; margin: 0 0 1rem; font-size: .9rem; }}
.sg-bar {{ margin: .75rem 0; display: flex; gap: 1rem; align-items: center; font-size: .9rem; }}
#sg-alerts {{ list-style: none; padding: 0; margin: 0; }}
.sg-alert {{ display: block; width: 100%; text-align: left; margin: .25rem 0; padding: .4rem .6rem; cursor: pointer;
  border: 1px solid #d0d4da; border-left: 6px solid #c62828; background: #fff; border-radius: 4px; font: inherit; }}
.sg-alert.sg-medium {{ border-left-color: #ef6c00; }}
.sg-alert.sg-low, .sg-alert.sg-info {{ border-left-color: #546e7a; }}
.sg-alert.sg-current {{ background: #ffebee; }}
.sg-alert code {{ display: block; margin-top: .2rem; white-space: pre-wrap; word-break: break-all; }}
.sg-at {{ font-variant-numeric: tabular-nums; color: #555; }}
.sg-when {{ float: right; color: #777; font-size: .8rem; }}
footer {{ margin-top: 1.5rem; color: #777; font-size: .8rem; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p class="sg-facts">{facts}</p>
<div id="sg-player"></div>
<div class="sg-bar">
 <label>Speed <select id="sg-speed">{speed_options}</select></label>
 <span>State: <b id="sg-state">ready</b></span>
 <span>Keys: space play/pause, ← → seek, [ ] previous/next alert</span>
</div>
<h2>Alerts</h2>
<ol id="sg-alerts">{alert_items}</ol>
<footer>Masked by SessionGuard: built from the engine's masked output only. Player: asciinema-player {player_version}
 (Apache-2.0), inlined.</footer>
<script type="application/json" id="sg-recording">{data}</script>
<script>{player_js}</script>
<script>
(function () {{
  "use strict";
  const data = JSON.parse(document.getElementById("sg-recording").textContent);
  const box = document.getElementById("sg-player");
  const state = document.getElementById("sg-state");
  const speedSelect = document.getElementById("sg-speed");
  const buttons = Array.from(document.querySelectorAll(".sg-alert"));
  let player = null;

  function setState(text) {{ state.textContent = text; box.dataset.state = text; }}
  function highlight(index) {{
    buttons.forEach((button, i) => button.classList.toggle("sg-current", i === index));
  }}
  function mount(startAt, autoPlay) {{
    if (player) {{ player.dispose(); }}
    player = AsciinemaPlayer.create({{ data: data.cast }}, box, {{
      cols: data.cols, rows: data.rows, speed: Number(speedSelect.value), startAt: startAt,
      autoPlay: autoPlay, preload: true, fit: "width", terminalFontSize: "small", controls: true
    }});
    player.addEventListener("playing", () => setState("playing"));
    player.addEventListener("pause", () => setState("paused"));
    player.addEventListener("ended", () => setState("ended"));
    player.addEventListener("marker", (event) => highlight(event.index));
    // startAt alone moves the clock but draws nothing until play: a paused page seeks, so the moment is shown.
    if (!autoPlay && startAt > 0) {{ player.seek(startAt).then(() => setState("paused")); }}
    return player;
  }}
  // Jump to an alert and stop there, so its line can be read; the alert line is written at the marker's time.
  function jumpToAlert(index) {{
    const alert = data.alerts[index];
    if (!alert) {{ return Promise.resolve(); }}
    highlight(index);
    return player.pause().then(() => player.seek(alert.time + 0.001)).then(() => setState("at alert " + (index + 1)));
  }}
  buttons.forEach((button) => button.addEventListener("click", () => jumpToAlert(Number(button.dataset.index))));
  speedSelect.addEventListener("change", () => {{
    const playing = state.textContent === "playing";
    mount(player.getCurrentTime(), playing);
  }});

  const options = new Map(location.hash.replace(/^#/, "").split("&").filter(Boolean).map((part) => {{
    const [key, value] = part.split("=");
    return [decodeURIComponent(key), decodeURIComponent(value || "")];
  }}));
  if (options.has("speed") && Array.from(speedSelect.options).some((o) => o.value === options.get("speed"))) {{
    speedSelect.value = options.get("speed");
  }}
  const startAt = options.has("t") ? Math.max(0, Number(options.get("t")) || 0) : 0;
  mount(startAt, options.has("play"));
  if (options.has("alert")) {{ jumpToAlert(Number(options.get("alert")) - 1); }}
}})();
</script>
</body>
</html>
"""
