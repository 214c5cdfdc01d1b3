"""The terminal dashboard of `streamser listen`: rolling emotion traces, meters, counters.

Three small parts, each testable on its own:

- `streamser.tui.state`: what the dashboard shows, as plain data updated from
  events (no rich, no terminal);
- `streamser.tui.render`: that data drawn with rich at a given size;
- `streamser.tui.keys`: single keys read from the terminal in cbreak mode;

and `streamser.tui.app`, the event sink that ties them to a run. The dashboard
only subscribes: events reach it through the sink seam, and the
input meters are polled from `Run.meters()`, which never blocks capture.
rich is imported by these modules only, never by `import streamser`.
"""
