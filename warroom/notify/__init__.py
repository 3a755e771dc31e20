"""Notifications: what changed (from the fold's states), the messages, and their delivery over HTTP.

- `changes`: pure: the launch's notifiable signals as of a state and a verdict, and which of them differ
  from what was last announced (the `notify` events in the log are that memory).
- `messages`: pure: the JSON bodies for Slack, PagerDuty Events v2 and the generic signed webhook.
- `secrets`: a channel's URL, routing key or signing secret, from an environment variable or a file.
- `delivery`: one POST with its outcome in words; Retry-After and backoff.
- `notifier`: the loop the recorder runs while it leads: follow the log, queue changes, deliver, record.

May import the core, the config, the store and httpx; never Textual, the console, sources or the recorder.
"""
