// Home Assistant MQTT discovery (https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery):
// retained configs under DISCOVERY/COMPONENT/NODE/OBJECT/config describe a
// door-phone device whose entities read the bridge's own topics:
//   sensor        call state   <- PREFIX/call_state
//   sensor        last caller  <- PREFIX/last_caller
//   binary_sensor ringing      <- PREFIX/call_state == incoming
//   button        answer       -> PREFIX/command {"id":"ha-answer","cmd":"answer"}
//   button        hang up      -> PREFIX/command {"id":"ha-hangup","cmd":"hangup"}
// All of them are available while PREFIX/status is "online". Pure.
import type { Topics } from "./topics.js";

export interface DiscoveryOptions {
  discoveryPrefix: string;
  nodeId: string;
  name: string;
  topics: Topics;
  version: string;
}

export interface DiscoveryMessage {
  topic: string;
  payload: Record<string, unknown>;
}

/** The default node id: the account's bare JID, other characters as _. */
export function defaultNodeId(jid: string): string {
  const bare = jid.split("/")[0]!;
  return bare.replace(/[^a-zA-Z0-9_-]/g, "_").slice(0, 64);
}

export function discoveryMessages(o: DiscoveryOptions): DiscoveryMessage[] {
  const t = o.topics;
  const device = { identifiers: [`jingled_${o.nodeId}`], name: o.name, manufacturer: "jingled", model: "XMPP door phone", sw_version: o.version };
  const common = (object: string, name: string, icon: string) => ({
    name,
    unique_id: `jingled_${o.nodeId}_${object}`,
    availability_topic: t.status,
    payload_available: "online",
    payload_not_available: "offline",
    icon,
    device,
    origin: { name: "jingled", sw_version: o.version },
  });
  const entity = (component: string, object: string, payload: Record<string, unknown>): DiscoveryMessage => ({
    topic: `${o.discoveryPrefix}/${component}/${o.nodeId}/${object}/config`,
    payload,
  });
  return [
    entity("sensor", "call_state", { ...common("call_state", "Call state", "mdi:phone"), state_topic: t.callState }),
    entity("sensor", "last_caller", { ...common("last_caller", "Last caller", "mdi:account-voice"), state_topic: t.lastCaller }),
    entity("binary_sensor", "ringing", {
      ...common("ringing", "Ringing", "mdi:bell-ring"),
      state_topic: t.callState,
      value_template: "{{ 'ON' if value == 'incoming' else 'OFF' }}",
    }),
    entity("button", "answer", { ...common("answer", "Answer", "mdi:phone-check"), command_topic: t.command, payload_press: JSON.stringify({ id: "ha-answer", cmd: "answer" }) }),
    entity("button", "hangup", { ...common("hangup", "Hang up", "mdi:phone-hangup"), command_topic: t.command, payload_press: JSON.stringify({ id: "ha-hangup", cmd: "hangup" }) }),
  ];
}
