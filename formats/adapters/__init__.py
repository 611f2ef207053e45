"""Input formats: one module per format (see ``registry``), each turning a record of its
format into plain messages; gating (who wrote it) happens later, in
causal_agents.transcripts.provenance. The names below are what the rest of cag imports."""

from causal_agents.formats.adapters.base import (DEFAULT_TEXT_ROLES, TRAIN_FLAGS, Message, ReadOptions,
                                                 message_rows_record, suspect_flags, think)
from causal_agents.formats.adapters.openai import openai_message, plain_tool_calls, render_tool_call
from causal_agents.formats.adapters.registry import (ALL_KEYS, BY_NAME, FORMATS, REGISTRY, detect_format,
                                                     file_format, file_records, get, is_message_row,
                                                     key_fields, sniff, to_messages)

__all__ = ["DEFAULT_TEXT_ROLES", "TRAIN_FLAGS", "Message", "ReadOptions", "suspect_flags", "think",
           "openai_message", "plain_tool_calls", "render_tool_call", "ALL_KEYS", "BY_NAME", "FORMATS", "REGISTRY",
           "detect_format", "file_format", "file_records", "get", "is_message_row", "key_fields", "sniff", "to_messages",
           "message_rows_record"]
