// PCMU: ITU-T G.711 µ-law, static payload type 0 (RFC 3551 §4.5.14, §6).
import alawmulaw from "alawmulaw";
import { g711Codec } from "./g711.js";

export const pcmuCodec = g711Codec("PCMU", 0, alawmulaw.mulaw);
