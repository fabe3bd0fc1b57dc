"""Entry point of the frozen build (PyInstaller): one executable, two programs.

`vigie ...` is the command line (agent.cli). The agent starts its popup child as
`<executable> --vigie-popup` (agent.popup.host.popup_command), since a frozen build has no `python -m`.
The popup check stays a literal here so the popup child does not import the agent's host modules.
"""

import sys

if __name__ == "__main__":
    if sys.argv[1:2] == ["--vigie-popup"]:
        import runpy

        del sys.argv[1]
        runpy.run_module("agent.popup", run_name="__main__", alter_sys=True)  # exits through sys.exit
        sys.exit(0)
    import multiprocessing

    multiprocessing.freeze_support()
    from agent.cli import main

    sys.exit(main())
