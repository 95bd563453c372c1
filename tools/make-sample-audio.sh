#!/usr/bin/env bash
# Regenerates smartnotes/samples/sales_call_excerpt.wav: a few turns of the sample call spoken
# by espeak-ng with one voice per speaker (apt-get install espeak-ng sox).
set -euo pipefail
out=${1:-smartnotes/samples/sales_call_excerpt.wav}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
say() {  # voice, text
  n=$(ls "$work" | wc -l)
  espeak-ng -v "$1" -s 150 -w "$work/$(printf %03d "$n").wav" "$2"
}
say en-us+f3 "Okay. If you commit to an annual contract I can apply a volume discount. I will send you a revised quote with the annual pricing by Friday."
say en-us+m3 "That would help a lot. Please include the onboarding package as a separate line item, so finance can see it."
say en-gb+f4 "On my side, the blocker is the security questionnaire. Our policy requires it before any pilot with customer data."
say en-us+f3 "Of course. Can you send me the questionnaire today? Our security team usually turns these around within a week."
say en-gb+f4 "Yes, I'll send the questionnaire to you this afternoon."
say en-us+f3 "I'll share the SOC 2 report and our standard data processing agreement right after this call."
files=("$work"/*.wav)
sox "${files[@]}" -r 16000 -c 1 -b 16 "$out" pad 0 0.4
echo "wrote $out ($(soxi -D "$out") s)"
