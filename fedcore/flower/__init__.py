"""The Flower deployment: the ClientApp (a hospital's SuperNode), the ServerApp, and their run config.

- client: a SuperNode's ClientApp around fedcore's hospital side.
- server: the ServerApp: the rounds over real SuperNodes, recorded like an in-process run.
- config: a Flower run config (pyproject.toml's [tool.flwr.app.config]) as a RunConfig.
"""
