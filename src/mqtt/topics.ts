// The MQTT bridge's topics under its prefix (docs/control-protocol.md, "MQTT").
//   PREFIX/status              "online" | "offline", retained; "offline" is the last will
//   PREFIX/command             requests {id, cmd, args}, as on the control socket
//   PREFIX/reply               replies, when the request named no MQTT 5 response topic
//   PREFIX/event/EVENT         every event, as JSON
//   PREFIX/call/CALLID/EVENT   the events of one call (those carrying a callId)
//   PREFIX/call_state          retained: idle, outgoing, ringing, incoming, connecting, active
//   PREFIX/last_caller         retained: the bare JID of the last incoming call
export interface Topics {
  readonly status: string;
  readonly command: string;
  readonly reply: string;
  readonly callState: string;
  readonly lastCaller: string;
  event(name: string): string;
  call(callId: string, name: string): string;
}

export function topicsFor(prefix: string): Topics {
  return {
    status: `${prefix}/status`,
    command: `${prefix}/command`,
    reply: `${prefix}/reply`,
    callState: `${prefix}/call_state`,
    lastCaller: `${prefix}/last_caller`,
    event: (name) => `${prefix}/event/${name}`,
    call: (callId, name) => `${prefix}/call/${callId}/${name}`,
  };
}

/** A topic level must not carry MQTT's separators or wildcards (ids come from the daemon, but never trust a level blindly). */
export function safeLevel(s: string): boolean {
  return /^[A-Za-z0-9._-]{1,128}$/.test(s);
}

/**
 * Whether a request's MQTT 5 response topic may be used: not a wildcard or a
 * $SYS topic, and not one of the bridge's own topics or Home Assistant's
 * discovery topics (the bridge must not be made to write there on anyone's
 * behalf); such replies go to PREFIX/reply instead.
 */
export function usableResponseTopic(topic: string, prefix: string, discoveryPrefix: string | undefined): boolean {
  if (topic === "" || topic.length > 1024 || /[#+\0]/.test(topic) || topic.startsWith("$")) return false;
  if ((topic === prefix || topic.startsWith(`${prefix}/`)) && !topic.startsWith(`${prefix}/reply`)) return false;
  if (discoveryPrefix !== undefined && (topic === discoveryPrefix || topic.startsWith(`${discoveryPrefix}/`))) return false;
  return true;
}
