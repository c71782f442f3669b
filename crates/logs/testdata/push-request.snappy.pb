▐Л
▄
{job="api", env="prod"}I
─Бо╙{GET /health 200,
Лtrace_id 4bf92f3577b34da6a3ce929d0e0e4736&
│Бо╙levelX=error msg="db timeout"