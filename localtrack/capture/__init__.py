"""What a run captures beside the metrics it is given, each on a background helper.

::

    console.py         stdout/stderr to the terminal unchanged and to files/output.log
    console_tee.py     the helper process that does that copying (standard library only)
    system_metrics.py  CPU, memory, disk, network and GPU use, sampled as system/* keys
    sysinfo.py         host, process, Python, platform, command line and git at init
    environment.py     installed packages, uncommitted diff and hardware, saved to files/
    git.py             run_git(): the one way git is run (timeout, no prompts, None on failure)
    torch_watch.py     localtrack.watch(): gradient and parameter histograms of PyTorch models
"""
