//! A small RIFF/WAVE header parser: enough to know a voice file's format and exact duration.
//!
//! The header size is never assumed (44 bytes is only the simplest case): the chunks are walked,
//! skipping any that are not `fmt ` or `data` (`LIST`, `fact`, `cue `, ...) and honouring the pad
//! byte after odd-sized chunks. A `data` size a streaming encoder wrote before it knew the
//! length and never patched — larger than the bytes present (`0xFFFFFFFF`), or 0 as the
//! open-source fish-speech server writes it (`fish_speech` `wav_chunk_header`, used by its
//! streaming `/v1/tts`) — means "the rest of the file".

/// What a WAV file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WavInfo {
    /// 1 = PCM, 3 = IEEE float, 0xFFFE = extensible.
    pub format_tag: u16,
    pub channels: u16,
    pub sample_rate: u32,
    pub byte_rate: u32,
    pub block_align: u16,
    pub bits_per_sample: u16,
    /// Offset of the first sample byte.
    pub data_offset: u64,
    /// Sample bytes present (after clamping to the file's length).
    pub data_bytes: u64,
}

impl WavInfo {
    /// Playing time: sample bytes / bytes per second.
    pub fn duration_seconds(&self) -> f64 {
        self.data_bytes as f64 / f64::from(self.byte_rate)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WavError {
    #[error("not a RIFF file")]
    NotRiff,
    #[error("a RIFF file but not WAVE")]
    NotWave,
    #[error("truncated {0}")]
    Truncated(&'static str),
    #[error("no `fmt ` chunk before the end of the file")]
    MissingFmt,
    #[error("no `data` chunk")]
    MissingData,
    #[error("unusable format: {0}")]
    BadFormat(String),
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Parses the whole file's bytes (or at least its header and all its data: the data length is
/// taken from what is present when the header claims more).
pub fn parse_wav(bytes: &[u8]) -> Result<WavInfo, WavError> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" {
        return Err(WavError::NotRiff);
    }
    if &bytes[8..12] != b"WAVE" {
        return Err(WavError::NotWave);
    }
    let mut fmt: Option<(u16, u16, u32, u32, u16, u16)> = None;
    let mut data: Option<(u64, u64)> = None;
    let mut at = 12usize;
    while bytes.len().saturating_sub(at) >= 8 {
        let id = &bytes[at..at + 4];
        let size = u32_at(bytes, at + 4) as usize;
        let body = at + 8;
        let present = bytes.len() - body;
        match id {
            b"fmt " => {
                if size < 16 {
                    return Err(WavError::BadFormat(format!("`fmt ` chunk of {size} bytes, at least 16 expected")));
                }
                if present < 16 {
                    return Err(WavError::Truncated("`fmt ` chunk"));
                }
                fmt = Some((
                    u16_at(bytes, body),
                    u16_at(bytes, body + 2),
                    u32_at(bytes, body + 4),
                    u32_at(bytes, body + 8),
                    u16_at(bytes, body + 12),
                    u16_at(bytes, body + 14),
                ));
            }
            b"data" => {
                // A streaming writer's placeholder size (past the end, or 0 with samples after
                // it): the data is what is there.
                let unpatched = size >= present || (size == 0 && present > 0);
                data = Some((body as u64, if unpatched { present } else { size } as u64));
                if unpatched {
                    break;
                }
            }
            _ => {}
        }
        if size > present {
            return Err(WavError::Truncated("chunk"));
        }
        // Chunks are word-aligned: an odd-sized chunk is followed by one pad byte.
        at = body + size + (size & 1);
    }
    let (format_tag, channels, sample_rate, byte_rate, block_align, bits_per_sample) =
        fmt.ok_or(WavError::MissingFmt)?;
    let (data_offset, data_bytes) = data.ok_or(WavError::MissingData)?;
    if channels == 0 || sample_rate == 0 || byte_rate == 0 || block_align == 0 {
        return Err(WavError::BadFormat(format!(
            "channels {channels}, sample rate {sample_rate}, byte rate {byte_rate}, block align {block_align}"
        )));
    }
    Ok(WavInfo { format_tag, channels, sample_rate, byte_rate, block_align, bits_per_sample, data_offset, data_bytes })
}

/// A RIFF/WAVE file around raw little-endian 16-bit PCM.
pub fn wav_from_pcm16(pcm: &[u8], sample_rate: u32, channels: u16) -> Vec<u8> {
    let block_align = channels * 2;
    let byte_rate = sample_rate * u32::from(block_align);
    let data_len = u32::try_from(pcm.len()).unwrap_or(u32::MAX) & !1;
    let mut wav = Vec::with_capacity(44 + pcm.len());
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&channels.to_le_bytes());
    wav.extend_from_slice(&sample_rate.to_le_bytes());
    wav.extend_from_slice(&byte_rate.to_le_bytes());
    wav.extend_from_slice(&block_align.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    wav.extend_from_slice(&pcm[..data_len as usize]);
    wav
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn chunk(id: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut c = id.to_vec();
        c.extend_from_slice(&(body.len() as u32).to_le_bytes());
        c.extend_from_slice(body);
        if body.len() % 2 == 1 {
            c.push(0);
        }
        c
    }

    fn fmt_pcm(channels: u16, rate: u32, bits: u16) -> Vec<u8> {
        let align = channels * bits / 8;
        let mut f = Vec::new();
        f.extend_from_slice(&1u16.to_le_bytes());
        f.extend_from_slice(&channels.to_le_bytes());
        f.extend_from_slice(&rate.to_le_bytes());
        f.extend_from_slice(&(rate * u32::from(align)).to_le_bytes());
        f.extend_from_slice(&align.to_le_bytes());
        f.extend_from_slice(&bits.to_le_bytes());
        chunk(b"fmt ", &f)
    }

    pub(crate) fn riff(chunks: &[Vec<u8>]) -> Vec<u8> {
        let body: Vec<u8> = chunks.concat();
        let mut file = b"RIFF".to_vec();
        file.extend_from_slice(&(body.len() as u32 + 4).to_le_bytes());
        file.extend_from_slice(b"WAVE");
        file.extend_from_slice(&body);
        file
    }

    #[test]
    fn walks_past_a_list_chunk_with_an_odd_size_and_its_pad_byte() {
        // 22050 Hz mono 16-bit: 44100 bytes per second; 0.5 s of samples.
        let list = chunk(b"LIST", b"INFOISFT\x05\x00\x00\x00espk");
        assert_eq!(list.len() % 2, 0);
        let odd = chunk(b"junk", b"abc"); // 3 bytes + pad
        let wav = riff(&[fmt_pcm(1, 22_050, 16), list, odd, chunk(b"data", &vec![0u8; 22_050])]);
        let info = parse_wav(&wav).expect("parses");
        assert_eq!((info.channels, info.sample_rate, info.byte_rate, info.block_align), (1, 22_050, 44_100, 2));
        assert_eq!(info.bits_per_sample, 16);
        assert_eq!(info.data_bytes, 22_050);
        assert_eq!(info.data_offset as usize, wav.len() - 22_050);
        assert!((info.duration_seconds() - 0.5).abs() < 1e-12);
    }

    #[test]
    fn a_list_chunk_before_fmt_and_a_trailing_chunk_after_data_are_fine() {
        let wav = riff(&[
            chunk(b"LIST", b"INFOINAMsome title\x00\x00"),
            fmt_pcm(2, 48_000, 16),
            chunk(b"data", &vec![0u8; 192_000]),
            chunk(b"id3 ", b"tag"),
        ]);
        let info = parse_wav(&wav).expect("parses");
        assert_eq!(info.data_bytes, 192_000);
        assert!((info.duration_seconds() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn an_unpatched_streaming_data_size_is_clamped_to_the_bytes_present() {
        let mut wav = riff(&[fmt_pcm(1, 8_000, 8), chunk(b"data", &vec![0u8; 4_000])]);
        let at = wav.len() - 4_000 - 4;
        wav[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let info = parse_wav(&wav).expect("parses");
        assert_eq!(info.data_bytes, 4_000);
        assert!((info.duration_seconds() - 0.5).abs() < 1e-12);
    }

    #[test]
    fn a_zero_streaming_data_size_means_the_rest_of_the_file() {
        let mut wav = riff(&[fmt_pcm(1, 8_000, 8), chunk(b"data", &vec![0u8; 4_000])]);
        let at = wav.len() - 4_000 - 4;
        wav[at..at + 4].copy_from_slice(&0u32.to_le_bytes());
        let info = parse_wav(&wav).expect("parses");
        assert_eq!(info.data_bytes, 4_000);
        assert!((info.duration_seconds() - 0.5).abs() < 1e-12);
    }

    #[test]
    fn broken_files_are_named() {
        assert_eq!(parse_wav(b"not a wav at all"), Err(WavError::NotRiff));
        assert_eq!(parse_wav(b"RIFF\x04\x00\x00\x00AVI "), Err(WavError::NotWave));
        assert_eq!(parse_wav(&riff(&[chunk(b"data", &[0u8; 8])])), Err(WavError::MissingFmt));
        assert_eq!(parse_wav(&riff(&[fmt_pcm(1, 8_000, 8)])), Err(WavError::MissingData));
        let mut cut = riff(&[fmt_pcm(1, 8_000, 8), chunk(b"LIST", &[0u8; 100]), chunk(b"data", &[0u8; 8])]);
        cut.truncate(60);
        assert_eq!(parse_wav(&cut), Err(WavError::Truncated("chunk")));
        let mut zero_rate = fmt_pcm(1, 8_000, 8);
        zero_rate[16..20].copy_from_slice(&0u32.to_le_bytes());
        assert!(matches!(parse_wav(&riff(&[zero_rate, chunk(b"data", &[0u8; 8])])), Err(WavError::BadFormat(_))));
    }
}
