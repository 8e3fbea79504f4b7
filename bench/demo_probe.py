"""Learnability probe for the demo judge (issue 15, round 4): plain-torch SFT of a demo's tiny model, greedy
accuracy per failure kind on the validation split every steps/5 steps. A scratch diagnostic, not part of any
pipeline; docs/bench_demo.md (round 4) lists the runs made with it and what they showed.

    python bench/demo_probe.py DEMO_DIR STEPS LR [SEED] [MODE]

DEMO_DIR is a scripts/demo.sh output (models/random, sft/sft_data.jsonl, raw/{train,val}.jsonl). MODE: `sft` (the
demo's SFT rows, default), `oracle` (gold labels as <s>90</s> / <s>10</s> on both sides of every training pair) or
`oracle:wrong` (only the wrong-category pairs). Environment: TPL (the user-turn template, {c} and {r}; default the
generic_score100_brief wording), COT=1 (targets rewritten to a one-line check before the tag), PT=N (N steps of
language-model pre-training on category facts first; FACTS=old for the first phrasing tried), INIT (re-initialise
with this std), WD (AdamW weight decay), MNT (eval max new tokens), SHOW=1 (print a few greedy answers).
"""
import os, json, sys, time, math, random, re, torch
from transformers import AutoTokenizer, AutoModelForCausalLM
torch.set_num_threads(1)
D = sys.argv[1]; steps = int(sys.argv[2]); lr = float(sys.argv[3]); seed = int(sys.argv[4]) if len(sys.argv)>4 else 0
mode = sys.argv[5] if len(sys.argv)>5 else "sft"
torch.manual_seed(seed); random.seed(seed)
tok = AutoTokenizer.from_pretrained(f"{D}/models/random")
model = AutoModelForCausalLM.from_pretrained(f"{D}/models/random", torch_dtype=torch.float32)
if os.environ.get("INIT"):
    model.config.initializer_range=float(os.environ["INIT"]); model.apply(model._init_weights)
TPL = ("Does the response do what was asked? Reply only with a score tag from <s>0</s> (no) to <s>100</s> (fully).\n\n"
       "REQUEST:\n{c}\n\nRESPONSE:\n{r}")
import os
if os.environ.get("TPL"): TPL = os.environ["TPL"].replace("\\n","\n")
def enc_prompt(c, r):
    return tok.apply_chat_template([{"role":"user","content":TPL.format(c=c,r=r)}], tokenize=False, add_generation_prompt=True)
rows = [json.loads(l) for l in open(f"{D}/sft/sft_data.jsonl")]
if mode.startswith("oracle"):
    tr=[json.loads(l) for l in open(f"{D}/raw/train.jsonl")]
    kinds = mode.split(":")[1].split(",") if ":" in mode else None
    rows=[]
    for t in tr:
        if kinds and t["kind"] not in kinds: continue
        for resp,sc in ((t["chosen"],90),(t["rejected"],10)):
            ans = f"<s>{sc}</s>"
            if os.environ.get("COT"):
                from grpo_bt_rm.demo.teacher import named_word, asked_category
                from grpo_bt_rm.demo.task import category_of
                w = named_word(resp); 
                ans = f"asked {asked_category(t['prompt'])}; {w.lower()} is {category_of(w) if w else 'none'}. " + ans
            rows.append({"messages":[{"role":"user","content":TPL.format(c=t["prompt"],r=resp)},{"role":"assistant","content":ans}]})
if os.environ.get("COT") and not mode.startswith("oracle"):
    from grpo_bt_rm.demo.teacher import named_word, asked_category
    from grpo_bt_rm.demo.task import category_of
    rx = re.compile(r"REQUEST:\n(.*)\n\nRESPONSE:\n(.*)", re.S)
    new=[]
    for r in rows:
        c, resp = rx.search(r["messages"][0]["content"]).groups()
        w = named_word(resp)
        ans = (f"names {w.lower()}, {category_of(w)}; asked {asked_category(c)}. " if w else f"names nothing; asked {asked_category(c)}. ") + r["messages"][1]["content"]
        new.append({"messages":[{"role":"user","content":TPL.format(c=c,r=resp)},{"role":"assistant","content":ans}]})
    rows = new
    print(rows[0], rows[1])
print("rows",len(rows))
data = []
for r in rows:
    full = tok.apply_chat_template(r["messages"], tokenize=False)
    p = tok.apply_chat_template(r["messages"][:1], tokenize=False, add_generation_prompt=True)
    ids = tok(full)["input_ids"]; np_ = len(tok(p)["input_ids"])
    labels = [-100]*np_ + ids[np_:]
    data.append((ids, labels))
val = [json.loads(l) for l in open(f"{D}/raw/val.jsonl")]
tok.padding_side = "left"
def score_texts(texts):
    out=[]
    for i in range(0,len(texts),64):
        b = tok(texts[i:i+64], return_tensors="pt", padding=True)
        with torch.no_grad():
            g = model.generate(**b, max_new_tokens=int(os.environ.get('MNT','8')), do_sample=False, pad_token_id=tok.pad_token_id)
        for s in tok.batch_decode(g[:, b["input_ids"].shape[1]:]):
            m = re.search(r"<s>(\d+)</s>", s)
            if os.environ.get("SHOW") and len(out)<6: print(repr(s))
            out.append(int(m.group(1)) if m else None)
    return out
def evaluate():
    model.eval()
    val_ = sorted(val, key=lambda v: v["kind"]!="wrong")
    sc = score_texts([enc_prompt(v["prompt"], v["chosen"]) for v in val])
    sr = score_texts([enc_prompt(v["prompt"], v["rejected"]) for v in val])
    model.train()
    acc = {}
    for v,a,b in zip(val,sc,sr):
        x = 0.0 if a is None or b is None else (1.0 if a>b else 0.5 if a==b else 0.0)
        acc.setdefault(v["kind"],[]).append(x); acc.setdefault("all",[]).append(x)
    return {k: round(sum(v)/len(v),3) for k,v in sorted(acc.items())}
if os.environ.get("PT"):
    from grpo_bt_rm.demo.task import CATEGORIES, ARTICLE
    facts=[]
    for c,ws in CATEGORIES.items():
        for w in ws:
            if os.environ.get("FACTS") == "old":
                facts += [f"{w} is a {c}.", f"{w.capitalize()} is a {c}.", f"{w}, {c}.", f"names {w}, {c}."]
            else:
                from grpo_bt_rm.demo.task import fact_lines as _fl
                facts = _fl()
    popt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for st in range(int(os.environ["PT"])):
        b = tok(random.sample(facts, 16), return_tensors="pt", padding=True)
        lab = b["input_ids"].clone(); lab[b["attention_mask"]==0] = -100
        l = model(**b, labels=lab).loss; popt.zero_grad(); l.backward(); popt.step()
    print("pt loss", l.item(), flush=True)
opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=float(os.environ.get("WD","0")))
bs=16; t0=time.time()
sched = lambda s: min(1, s/(0.05*steps)) * 0.5*(1+math.cos(math.pi*s/steps))
for step in range(1, steps+1):
    batch = random.sample(data, bs)
    L = max(len(i) for i,_ in batch)
    ids = torch.tensor([i+[tok.pad_token_id]*(L-len(i)) for i,_ in batch])
    lab = torch.tensor([l+[-100]*(L-len(l)) for _,l in batch])
    att = torch.tensor([[1]*len(i)+[0]*(L-len(i)) for i,_ in batch])
    for g in opt.param_groups: g["lr"] = lr*sched(step)
    loss = model(input_ids=ids, attention_mask=att, labels=lab).loss
    opt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0); opt.step()
    if step % max(1,steps//5) == 0 or step==steps:
        print(step, round(loss.item(),3), evaluate(), f"{time.time()-t0:.0f}s", flush=True)
