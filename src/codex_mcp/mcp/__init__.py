"""The MCP boundary, and the only package that imports the MCP SDK: the server and its lifespan (server,
appstate), the tools, prompts, resources, completion, subscriptions and client log, the result models
(results, transcript) and the stdio transport. Everything below it is plain Python."""
