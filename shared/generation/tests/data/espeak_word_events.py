"""Word onsets from libespeak-ng's own word events (espeakEVENT_WORD), which its command line
does not report: the reference the caption timings are measured against.

usage: python3 espeak_word_events.py TEXT WORDS_PER_MINUTE OUT.wav
prints {"rate": Hz, "words": [{"pos": 1-based character, "len": characters, "ms": onset}]}
and writes the audio of that same synthesis to OUT.wav.
"""
import ctypes
import json
import sys
import wave

lib = ctypes.CDLL("libespeak-ng.so.1")


class Event(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", ctypes.c_void_p)]


CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(Event))
words, pcm = [], bytearray()


def on_audio(samples, count, events):
    if count > 0:
        pcm.extend(ctypes.string_at(samples, count * 2))
    i = 0
    while events[i].type != 0:  # espeakEVENT_LIST_TERMINATED
        if events[i].type == 1:  # espeakEVENT_WORD
            words.append({"pos": events[i].text_position, "len": events[i].length, "ms": events[i].audio_position})
        i += 1
    return 0


callback = CALLBACK(on_audio)
rate = lib.espeak_Initialize(2, 0, None, 0)  # AUDIO_OUTPUT_SYNCHRONOUS
lib.espeak_SetVoiceByName(b"en-us")
lib.espeak_SetParameter(1, int(sys.argv[2]), 0)  # espeakRATE
lib.espeak_SetSynthCallback(callback)
text = sys.argv[1].encode()
lib.espeak_Synth(text, len(text) + 1, 0, 0, 0, 0, None, None)
with wave.open(sys.argv[3], "wb") as out:
    out.setnchannels(1)
    out.setsampwidth(2)
    out.setframerate(rate)
    out.writeframes(bytes(pcm))
print(json.dumps({"rate": rate, "words": words}))
