-- Captions of the voiceover, timed to its speech: SRT and WebVTT sidecar files of the video.
ALTER TABLE media_assets DROP CONSTRAINT media_assets_kind_check;
ALTER TABLE media_assets ADD CONSTRAINT media_assets_kind_check
    CHECK (kind IN ('clip', 'voiceover', 'music', 'captions_srt', 'captions_vtt'));
