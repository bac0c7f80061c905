// PCMA: ITU-T G.711 A-law, static payload type 8 (RFC 3551 §4.5.14, §6): the
// law of the European and most international telephone networks, so the one
// a gateway to them often offers alone.
import alawmulaw from "alawmulaw";
import { g711Codec } from "./g711.js";

export const pcmaCodec = g711Codec("PCMA", 8, alawmulaw.alaw);
