"""The ceiling of benchmarks/serve.py: the least a FastAPI endpoint on uvicorn can do per request.

    uvicorn noop_app:app --app-dir benchmarks --host 127.0.0.1 --port 8000 --workers 1

`POST /noop` parses the JSON body (one record, or MLflow's `{"dataframe_records": [...]}`) and answers
`{"ok": true}`; `GET /health` answers for the readiness poll. No model, no validation: whatever a real
serving endpoint adds on top of this is its own cost.
"""

from fastapi import FastAPI, Request

app = FastAPI()


@app.post("/noop")
async def noop(request: Request) -> dict:
    await request.json()
    return {"ok": True}


@app.get("/health")
async def health() -> dict:
    return {"status": "ok"}
