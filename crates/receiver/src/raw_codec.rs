//! A tonic codec that hands over message bytes as they are, so a gRPC service can decode
//! with `weft-codec` instead of generated types, and a client (`weft bench`, tests) can
//! send bytes it encoded beforehand.

use bytes::{Buf, BufMut, Bytes};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

/// Decodes a message to its bytes (after gRPC framing and decompression) and encodes
/// bytes as the message.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

/// The encoder half of [`RawCodec`]: writes the bytes as the message.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawEncoder;

/// The decoder half of [`RawCodec`]: reads the whole message as bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawDecoder;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        RawEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, destination: &mut EncodeBuf<'_>) -> Result<(), Self::Error> {
        destination.put(item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = tonic::Status;

    fn decode(&mut self, source: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Self::Error> {
        Ok(Some(source.copy_to_bytes(source.remaining())))
    }
}
