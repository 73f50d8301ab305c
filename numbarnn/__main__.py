"""Command line: ``python -m numbarnn COMMAND [options]``.

Commands
--------
bench
    Time the CPU kernels against PyTorch and a plain-numpy loop and print
    the ratio table (``python -m numbarnn bench --help``).
demo
    Fit AR, Markov and latent RNN/GRU/LSTM models, print forecast quality
    and held-out likelihoods, write plots (``python -m numbarnn demo --help``).
"""
import sys


def main(argv=None):
    """Dispatch to a subcommand; returns the process exit code.

    Examples
    --------
    >>> from numbarnn.__main__ import main
    >>> main(["--help"])  # doctest: +ELLIPSIS
    usage: python -m numbarnn COMMAND [options]
    ...
    0
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"bench": "numbarnn.bench", "demo": "numbarnn.demo"}
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m numbarnn COMMAND [options]\n\ncommands:")
        print("  bench    speed table: PyTorch time / numbarnn time, same run")
        print("  demo     AR, Markov and latent RNN/GRU/LSTM models compared; plots")
        return 0 if argv else 2
    if argv[0] not in commands:
        print(f"unknown command {argv[0]!r}; choose from {', '.join(commands)}", file=sys.stderr)
        return 2
    import importlib

    return importlib.import_module(commands[argv[0]]).main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
