# Generates Data/utterances.tsv (committed). Deterministic: run it again and the file does not change.
# Each row: id, label, voice (flite), duration_stretch, f0_mean (Hz), f0_stddev (Hz), level (dBFS the bench scales to), words_only_cue, text.
# text_cue = "clear" when the words carry the emotion, "prosody" when the words are neutral and only the voice does.
import hashlib, random
T = {
"happy": [
 "I got the job, I am so happy!", "This is the best day I have had in years", "We had a wonderful time at the beach",
 "I love this song so much", "My sister is getting married and I'm thrilled", "The results came back and they are great",
 "Thank you, that is really kind of you", "I passed my driving test today!", "We won the match last night",
 "I'm really excited about the trip", "Everything went perfectly at the party", "My daughter said her first word today",
 "I feel fantastic this morning", "What a lovely surprise, thank you", "I'm so proud of my team",
 "The garden looks beautiful after the rain", "I finally finished the marathon and I feel amazing", "That was such a fun evening",
 "I'm grateful for my friends", "We are celebrating our anniversary tonight", "The new puppy is adorable",
 "I got promoted this week", "Dinner was delicious, I loved it", "I'm glad you called", "This made me laugh so hard",
 "I can't wait to see you, this is awesome", "My exam went really well", "Our holiday was wonderful",
 "I'm delighted with the new flat", "Today was a great day",
 ],
"sad": [
 "I miss my grandmother so much", "I feel so lonely these days", "My dog died last week",
 "Nobody came to my birthday", "I've been crying all night", "I lost my job today and I feel empty",
 "It hurts that she never calls me", "I feel hopeless about everything", "We broke up yesterday and I'm heartbroken",
 "I'm not happy with my life anymore", "I feel so tired and down", "The funeral was this morning",
 "I'm really sad about the news", "My best friend moved away and I miss her", "I feel worthless lately",
 "Everything seems gloomy today", "I'm so disappointed in myself", "I regret what I said to him",
 "I don't enjoy anything anymore", "I'm not happy at all", "I feel like nobody cares about me",
 "My father passed away last year and I still feel the loss", "I'm exhausted and miserable",
 "I was hoping he would come but he didn't", "I feel numb and alone", "I'm sorry, I just feel really low",
 "It's been a sad week", "I failed again and I feel terrible", "I can't stop thinking about what I lost",
 "The house feels empty without them",
 ],
"angry": [
 "This is completely unacceptable!", "I am so angry with you right now", "Stop interrupting me!",
 "I hate waiting on hold for hours", "That is ridiculous and unfair", "They lied to me again!",
 "I'm furious about the bill", "How dare you speak to me like that", "This stupid app crashed again!",
 "I'm sick of your excuses", "I'm fed up with this nonsense", "You never listen to me!",
 "The service was terrible and I'm livid", "I told you three times already!", "Get out of my way",
 "This is the worst company ever", "I'm so annoyed with my neighbour", "They cheated us out of our money",
 "Shut up and let me finish!", "That was insulting", "I'm really mad that they cancelled", "Enough, I've had it with this!",
 "Why does this useless thing never work?", "I absolutely hate this", "He's such an idiot!",
 "It's outrageous that they charged me twice", "I'm angry and I want a refund now", "Don't you dare hang up on me",
 "This is infuriating!", "What a disgusting way to treat people",
 ],
"anxious": [
 "I'm so worried about the exam tomorrow", "I feel nervous about the interview", "What if something goes wrong?",
 "I'm scared I'll lose my job", "I can't stop worrying about money", "My heart is racing and I can't breathe properly",
 "I'm anxious about the test results", "I'm afraid of flying next week", "I feel stressed about the deadline",
 "I keep panicking about the presentation", "I'm terrified of the surgery", "I'm not sure I can handle this",
 "I'm really tense before the meeting", "What if they don't like me?", "I'm overwhelmed with everything I have to do",
 "I'm uneasy about walking home alone", "I'm dreading the phone call", "I feel restless and I can't sleep",
 "I'm frightened about what the doctor will say", "I'm nervous my flight will be cancelled", "Everything feels uncertain right now",
 "I'm worried my son is in trouble", "I get so anxious in crowds", "I'm afraid I forgot something important",
 "I'm stressed and I don't know what to do", "I keep thinking something bad will happen", "I'm scared to open the letter",
 "My hands are shaking before the exam", "I'm panicking about the bills", "I feel on edge all the time",
 ],
"neutral": [
 "The meeting is at nine tomorrow", "I need to buy milk and bread", "Can you tell me the weather for Monday?",
 "I'm taking the train to work", "The report is on your desk", "Please set a reminder for three o'clock",
 "I read a book about history last night", "We are moving the sofa to the other room", "The shop closes at six",
 "My brother lives in Leeds", "I had pasta for lunch", "Remind me to call the bank", "The bus was on time today",
 "I'm going to the library later", "What time is it in Tokyo?", "I watered the plants this morning",
 "The package should arrive on Thursday", "We have a call with the team at noon", "I'll send the file tonight",
 "Can you read me my calendar?", "The car needs new tyres", "I walked to the station", "It's Tuesday today",
 "I changed my password yesterday", "The kettle is in the kitchen", "Add eggs to the shopping list",
 "My appointment is next week", "I moved the folder to the shared drive", "Turn the lights off at ten",
 "I'm cooking rice for dinner", "The printer is next to the window", "I parked the car outside",
 "Send the invoice to accounting", "The film starts at half past seven", "I need a new charger for my phone",
 "We usually eat at seven", "The train leaves from platform four", "I put the keys on the table",
 "Tomorrow I have a dentist appointment", "Open the window please",
 ],
}
# Words that say nothing about the feeling: the emotion is only in the voice.
AMBIGUOUS = [
 "I just got the call from the office", "They want to talk to me tomorrow", "So that's what happened today",
 "He said he would come over later", "I opened the letter this morning", "We are going to see them on Friday",
 "The results came in an hour ago", "She told me about it at lunch", "I'll be there at eight",
 "It's the same thing as last time",
]
PROSODY = {  # stretch, f0 factor, f0 stddev (Hz), level dBFS
 "neutral": (1.00, 1.00, 18, -24),
 "happy":   (0.92, 1.18, 38, -20),
 "sad":     (1.35, 0.85, 5, -33),
 "angry":   (0.86, 1.08, 34, -13),
 "anxious": (0.76, 1.22, 13, -24),
}
VOICES = [("slt", 170.0), ("rms", 105.0), ("awb", 120.0)]
rows = []
n = 0
for label, texts in T.items():
    items = [(t, "clear") for t in texts]
    items += [(t, "prosody") for t in AMBIGUOUS]
    for i, (text, cue) in enumerate(items):
        n += 1
        rng = random.Random(int(hashlib.sha256(f"{label}|{text}".encode()).hexdigest()[:8], 16))
        voice, base = VOICES[i % len(VOICES)]
        s, f, sd, lvl = PROSODY[label]
        stretch = round(s * rng.uniform(0.92, 1.08), 3)
        f0 = round(base * f * rng.uniform(0.94, 1.06), 1)
        std = round(sd * (base / 140) * rng.uniform(0.8, 1.2), 1)
        level = round(lvl + rng.uniform(-2.5, 2.5), 1)
        rows.append(f"{label}-{i+1:02d}\t{label}\t{voice}\t{stretch}\t{f0}\t{std}\t{level}\t{cue}\t{text}")
open("Data/utterances.tsv", "w").write(
    "# Labelled utterances for the emotion eval (bench/Sunaiva.Bench.Emotion). Generated by make_dataset.py.\n"
    "# id\tlabel\tvoice\tduration_stretch\tf0_mean_hz\tf0_stddev_hz\tlevel_dbfs\tcue\ttext\n" + "\n".join(rows) + "\n")
print(n)
