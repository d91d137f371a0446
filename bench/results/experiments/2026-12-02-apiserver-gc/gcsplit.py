import re, json, sys
label=sys.argv[1]
start=float(open(f'/tmp/runs/{label}.start').read().split()[-1])
rx=re.compile(r'gc (\d+) @([\d.]+)s (\d+)%: ([\d.+]+) ms clock, ([\d.+/]+) ms cpu, (\d+)->(\d+)->(\d+) MB')
gcs=[]
for l in open('/tmp/runs/gctrace.log'):
    m=rx.search(l)
    if m:
        cpu=sum(float(x) for x in re.split('[+/]',m.group(5)))
        gcs.append((start+float(m.group(2)), cpu, int(m.group(8))))
def gc_in(a,b):
    sel=[g for g in gcs if a<=g[0]<b]
    return len(sel), sum(g[1] for g in sel)/1000, (sel[-1][2] if sel else None)
for l in open(f'/tmp/runs/{label}.stamped'):
    t,_,rest=l.partition(' ')
    t=float(t)
    if '{' not in rest: continue
    try: p=json.loads(rest[rest.index('{'):])
    except Exception: continue
    if 'patches_per_s' in p:
        a=t-p['seconds']; n,cpu,live=gc_in(a,t)
        total=p['apiserver_cpu_cores']*p['seconds']
        print(f"sample {p['patches_per_s']:5.0f}/s {p['seconds']:5.1f}s cpu {total:5.1f}s gc_cycles {n} gc_cpu {cpu:5.1f}s ({cpu/total*100:4.1f}%) live {live}MB  non-gc ms/patch {(total-cpu)*1000/p['patches']:.2f}  watch={p.get('watch_events')}")
    elif 'at_s' in p:
        a=t-10; n,cpu,live=gc_in(a,t)
        total=p['apiserver_cpu_cores']*10
        w=p['status_writes_per_s']*10
        print(f"pass  {p['status_writes_per_s']:5.0f}/s at {p['at_s']:5.0f} cpu {total:5.1f}s gc_cycles {n} gc_cpu {cpu:5.1f}s ({cpu/total*100:4.1f}%) live {live}MB  non-gc ms/write {(total-cpu)*1000/max(w,1):.2f}")
