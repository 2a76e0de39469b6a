"""The `eventscope` console command: a CI pipeline's client of a remote Eventscope, without Django.

Standard library only, and nothing here imports Django or the project's apps, so `pip install` of the project
gives a command that needs no settings, no database and none of the server's dependencies.
"""

__version__ = "0.1.0"
