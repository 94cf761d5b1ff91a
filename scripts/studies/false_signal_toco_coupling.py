#!/usr/bin/env python3
"""Does the fetal channel rise with contractions where it records the mother? A study, not part
of the product.

A maternal heart rate often rises with a contraction, where a fetal one falls or stays: a cue
for maternal stretches on Doppler recordings whose MHR channel is silent, the false signal the
preparation rules miss most. Per second of the FHRMA-FS Doppler files (DopMHR) below 110 bpm,
the Pearson correlation of the fetal rate and the toco over +-90 s, each less its 5-minute
moving median (where the toco moves: a standard deviation of 3 units or more), for samples the
experts call fetal, for those they call false, and of those the ones the rules flag and miss.

Usage: scripts/studies/false_signal_toco_coupling.py REPORTS   (REPORTS: the output folder of
`bash scripts/analyze-all.sh`, for the rules' flags). Needs numpy; about 35 s.
"""
import json, os, sys

import numpy as np
D=os.path.join(os.path.dirname(__file__), '../../../shared/data/fhrma-fs')
REPORTS=sys.argv[1]
labels={e['filename']:e for e in json.load(open(f'{D}/expert_annotations.json'))}
def read(path):
    raw=open(path,'rb').read()[4:]
    rec=np.frombuffer(raw,dtype=np.dtype([('f1','<u2',(1,)),('f2','<u2'),('m','<u2'),('t','u1'),('fl','u1')]))
    return rec['f1'][:,0]/4.0, rec['m']/4.0, rec['t']/2.0
def mask(n, ranges):
    m=np.zeros(n,bool)
    for a,b in ranges: m[a-1:b]=True
    return m
def movmed(x, w):
    # nan-aware moving median over w (odd) via sliding windows (1-s series, small)
    from numpy.lib.stride_tricks import sliding_window_view
    pad=w//2; xp=np.pad(x,(pad,pad),constant_values=np.nan)
    return np.nanmedian(sliding_window_view(xp,w),axis=1)
res={'true_low':[], 'false_low':[], 'false_missed_low':[], 'false_caught_low':[]}
import warnings; warnings.filterwarnings('ignore')
for fn in sorted(os.listdir(f'{D}/DopMHR/Train')):
    f,m,t=read(f'{D}/DopMHR/Train/{fn}')
    n=len(f); L=labels[fn]
    ts=mask(n,L['TS_FHR']); fs=mask(n,L['FS_FHR']); both=ts&fs; ts&=~both; fs&=~both
    rep=json.load(open(f'{REPORTS}/{fn[:-5]}.figo.json'))
    flagged=np.zeros(n,bool)
    for r in rep['false_signal']:
        if r['channel']=='fhr1': flagged[int(r['start_s']*4):int(r['end_s']*4)]=True
    sec=n//4
    F=f[:sec*4].reshape(sec,4).astype(float); F[F==0]=np.nan; Fs=np.nanmean(F,axis=1)
    T=t[:sec*4].reshape(sec,4).mean(axis=1)
    if np.all(T==0): continue
    Fd=Fs-movmed(Fs,301); Td=T-movmed(T,301)
    W=90; corr=np.full(sec,np.nan)
    for i in range(0,sec,5):
        a,b=max(0,i-W),min(sec,i+W)
        x,y=Fd[a:b],Td[a:b]; ok=~np.isnan(x)&~np.isnan(y)
        if ok.sum()<60 or np.std(y[ok])<3 or np.std(x[ok])<1: continue
        c=np.corrcoef(x[ok],y[ok])[0,1]
        corr[i:i+5]=c
    for i in range(0,sec):
        s=i*4
        if np.isnan(Fs[i]) or Fs[i]>=110 or np.isnan(corr[i]): continue
        if ts[s]: res['true_low'].append(corr[i])
        if fs[s]:
            res['false_low'].append(corr[i])
            (res['false_caught_low'] if flagged[s] else res['false_missed_low']).append(corr[i])
for k,v in res.items():
    v=np.array(v); print(k, len(v), 'median %.2f'%np.median(v) if len(v) else '', ' share corr>0.3: %.2f'%np.mean(v>0.3) if len(v) else '', ' >0.5: %.2f'%np.mean(v>0.5) if len(v) else '')
