"""Views: DataFrames, HTML, SVG and widgets built from a process's trace and descriptor table only.

display.show(proc, live=...)   what a %%wasix cell displays (LivePanel or the static tables); call
                               `.finish()` on it after the run
tables      fds / history / calls / summary DataFrames
timeline    the descriptor timeline as SVG
text        print_trace(path, summary=False): a saved JSON-lines trace back to strace-style text
panel       LivePanel (ipywidgets, updated from a timer thread)
static      the final tables as HTML with stable ids, and as text
sections    the panel's hand-built HTML
"""
