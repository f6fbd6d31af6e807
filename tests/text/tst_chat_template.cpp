// Chat templates: recognition from the Jinja source and the rendered prompt. The expected
// strings are written from each model family's documented prompt format.
#include <QtTest>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/error.h"
#include "text/chat_template.h"

using dpowb::Message;
using dpowb::text::ChatTemplate;

Q_DECLARE_METATYPE(std::string)
Q_DECLARE_METATYPE(std::vector<Message>)

namespace {

std::string referencesDir() {
    if (const char* env = std::getenv("DPOWB_REFERENCES")) return env;
    return DPOWB_TEST_DATA "/../../.cache/references";
}

// Template sources as published with the models (abridged only where noted).
const char* kChatMl =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + "
    "'\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
const char* kLlama3 =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + "
    "message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 "
    "%}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ "
    "'<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";
const char* kLlama2 =
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = "
    "messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif "
    "%}{% for message in loop_messages %}{% if loop.index0 == 0 and system_message != false %}{% set content = "
    "'<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = "
    "message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + "
    "' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif "
    "%}{% endfor %}";
const char* kMistral =
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ "
    "raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if "
    "message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == "
    "'assistant' %}{{ message['content'] + eos_token}}{% endif %}{% endfor %}";
const char* kZephyr =
    "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\\n' + message['content'] + "
    "eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\\n' + message['content'] + eos_token }}\n{% "
    "elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\\n'  + message['content'] + eos_token }}\n{% endif "
    "%}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}";
const char* kGemma =
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% "
    "endif %}{% for message in messages %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% "
    "set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + "
    "'<end_of_turn>\\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}";
const char* kPhi3 =
    "{% for message in messages %}{% if message['role'] == 'user' %}{{'<|user|>\\n' + message['content'] + "
    "'<|end|>\\n'}}{% endif %}{% endfor %}";

// Qwen2.5's template (the tools branch abridged): a default system prompt when none is given.
const char* kQwen25 =
    "{%- if tools %}{{- '<|im_start|>system\\n' }}{%- if messages[0]['role'] == 'system' %}{{- messages[0]['content'] }}"
    "{%- else %}{{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}{%- endif %}{%- else %}"
    "{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
    "{%- else %}{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
    "assistant.<|im_end|>\\n' }}{%- endif %}{%- endif %}{%- for message in messages %}{%- if (message.role == \"user\") "
    "or (message.role == \"system\" and not loop.first) or (message.role == \"assistant\" and not message.tool_calls) %}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";
const char* kLlama31 =
    "{{- bos_token }}{%- if not date_string is defined %}{%- set date_string = \"26 Jul 2024\" %}{%- endif %}"
    "{{- \"<|start_header_id|>system<|end_header_id|>\\n\\n\" }}{{- \"Cutting Knowledge Date: December 2023\\n\" }}";

const std::vector<Message> kConversation = {
    {"system", "Be brief."}, {"user", "  Hi there \n"}, {"assistant", "Hello!"}, {"user", "2+2?"}};
const std::vector<Message> kNoSystem = {{"user", "Hi"}, {"assistant", " Hello "}, {"user", "Bye"}};

}  // namespace

class TestChatTemplate : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void detect_data() {
        QTest::addColumn<std::string>("source");
        QTest::addColumn<QString>("name");
        QTest::newRow("chatml") << std::string(kChatMl) << "chatml";
        QTest::newRow("qwen2.5") << std::string(kQwen25) << "chatml";
        QTest::newRow("llama3") << std::string(kLlama3) << "llama3";
        QTest::newRow("llama2") << std::string(kLlama2) << "llama2";
        QTest::newRow("mistral") << std::string(kMistral) << "mistral";
        QTest::newRow("zephyr") << std::string(kZephyr) << "zephyr";
        QTest::newRow("gemma") << std::string(kGemma) << "gemma";
    }

    void detect() {
        QFETCH(std::string, source);
        QFETCH(QString, name);
        QCOMPARE(QString::fromStdString(ChatTemplate::detect(source).name()), name);
    }

    void detectRefuses() {
        for (const char* src : {"", kPhi3, "{{ messages }}"}) {
            try {
                ChatTemplate::detect(src);
                QFAIL(qPrintable(QString("recognised: ") + src));
            } catch (const dpowb::Error& e) {
                QVERIFY2(QString(e.what()).contains("chatml, qwen3, llama3"), e.what());
            }
        }
        QVERIFY_THROWS_EXCEPTION(dpowb::Error, ChatTemplate::named("vicuna"));
    }

    // The templates shipped in real tokenizer_config.json files (when fetched).
    void detectReal() {
        struct Case {
            const char* package;
            const char* name;
        };
        int found = 0;
        for (Case c : {Case{"qwen3", "qwen3"}, Case{"llama3", "llama3"}}) {
            std::ifstream in(referencesDir() + "/" + c.package + "/tokenizer_config.json");
            if (!in) continue;
            ++found;
            auto cfg = nlohmann::json::parse(in);
            QCOMPARE(ChatTemplate::detect(cfg["chat_template"].get<std::string>()).name(), std::string(c.name));
        }
        if (!found) QSKIP("reference tokenizer_config.json files absent: run scripts/fetch-references.sh");
    }

    void apply_data() {
        QTest::addColumn<QString>("name");
        QTest::addColumn<std::vector<Message>>("messages");
        QTest::addColumn<bool>("generationPrompt");
        QTest::addColumn<std::string>("expected");
        QTest::newRow("chatml")
            << "chatml" << kConversation << true
            << std::string("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n  Hi there \n<|im_end|>\n"
                           "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n"
                           "<|im_start|>assistant\n");
        QTest::newRow("chatml no prompt") << "chatml" << std::vector<Message>{{"user", "x"}} << false
                                          << std::string("<|im_start|>user\nx<|im_end|>\n");
        QTest::newRow("llama3")
            << "llama3" << kConversation << true
            << std::string("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
                           "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
                           "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
                           "<|start_header_id|>user<|end_header_id|>\n\n2+2?<|eot_id|>"
                           "<|start_header_id|>assistant<|end_header_id|>\n\n");
        QTest::newRow("llama2 with system")
            << "llama2" << kConversation << true
            << std::string("<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\n  Hi there [/INST] Hello! </s><s>[INST] 2+2? [/INST]");
        QTest::newRow("llama2 without system")
            << "llama2" << kNoSystem << true << std::string("<s>[INST] Hi [/INST] Hello </s><s>[INST] Bye [/INST]");
        QTest::newRow("mistral") << "mistral" << kNoSystem << true
                                 << std::string("<s>[INST] Hi [/INST] Hello </s>[INST] Bye [/INST]");
        QTest::newRow("zephyr")
            << "zephyr" << kConversation << true
            << std::string("<|system|>\nBe brief.</s>\n<|user|>\n  Hi there \n</s>\n<|assistant|>\nHello!</s>\n"
                           "<|user|>\n2+2?</s>\n<|assistant|>\n");
        QTest::newRow("gemma") << "gemma" << kNoSystem << true
                               << std::string("<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHello"
                                              "<end_of_turn>\n<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n");
        QTest::newRow("gemma system folds into first user turn")
            << "gemma" << std::vector<Message>{{"system", "Be brief."}, {"user", "Hi"}} << false
            << std::string("<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n");
        QTest::newRow("plain") << "plain" << kNoSystem << true << std::string("Hi\n\n Hello \n\nBye\n\n");
    }

    void apply() {
        QFETCH(QString, name);
        QFETCH(std::vector<Message>, messages);
        QFETCH(bool, generationPrompt);
        QFETCH(std::string, expected);
        ChatTemplate t = ChatTemplate::named(name.toStdString());
        QCOMPARE(t.apply(messages, generationPrompt), expected);
    }

    void defaultSystemPrompt() {
        auto t = ChatTemplate::detect(kQwen25);
        QCOMPARE(t.name(), std::string("chatml"));
        QCOMPARE(t.apply({{"user", "Hi"}}, true),
                 std::string("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant."
                             "<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"));
        QCOMPARE(t.apply({{"system", "S"}, {"user", "Hi"}}, false),
                 std::string("<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"));
        // Plain ChatML has no default, nor does a template built by concatenation only.
        QCOMPARE(ChatTemplate::detect(kChatMl).apply({{"user", "Hi"}}, false), std::string("<|im_start|>user\nHi<|im_end|>\n"));
        QCOMPARE(ChatTemplate::named("chatml").apply({{"user", "Hi"}}, false), std::string("<|im_start|>user\nHi<|im_end|>\n"));
    }

    // Every rendering of scripts/make-chat-template-fixtures.py (Jinja2, configured as
    // transformers configures it) must come out the same from the detected template.
    void jinjaParity() {
        std::ifstream tin(DPOWB_TEST_DATA "/text/chat-templates.json");
        auto templates = nlohmann::json::parse(tin);
        std::ifstream in(DPOWB_TEST_DATA "/text/expected-chat.jsonl");
        QVERIFY(in);
        std::string line;
        int compared = 0, raised = 0;
        while (std::getline(in, line)) {
            auto e = nlohmann::json::parse(line);
            const auto& t = templates[e["template"].get<std::string>()];
            std::string source;
            if (t.contains("source")) {
                source = t["source"];
            } else {
                std::ifstream cfg(referencesDir() + "/" + t["source_file"].get<std::string>());
                if (!cfg) continue;  // a fetched template that is absent here
                source = nlohmann::json::parse(cfg)["chat_template"];
            }
            if (e.contains("raises")) {  // the Jinja template refused the conversation
                ++raised;
                continue;
            }
            std::vector<Message> msgs;
            for (const auto& m : e["messages"]) msgs.push_back({m["role"], m["content"]});
            ChatTemplate ct = ChatTemplate::detect(source, t["bos_token"]);
            std::string got = ct.apply(msgs, e["add_generation_prompt"]);
            QVERIFY2(got == e["text"].get<std::string>(),
                     qPrintable(QString::fromStdString(e["template"].get<std::string>() + " (" + ct.name() + "), " +
                                                       e["messages"].dump() + ": expected " + nlohmann::json(e["text"]).dump() +
                                                       " got " + nlohmann::json(got).dump())));
            ++compared;
        }
        QVERIFY2(compared >= 40, qPrintable(QString("only %1 renderings compared").arg(compared)));
        qInfo("%d renderings compared, %d refused by the Jinja template", compared, raised);
    }

    void llama31Refused() {
        try {
            ChatTemplate::detect(kLlama31);
            QFAIL("a Llama 3.1 template was accepted");
        } catch (const dpowb::Error& e) {
            QVERIFY2(QString(e.what()).contains("Llama 3.1"), e.what());
        }
    }

    void bosAndEndOfTurn() {
        QVERIFY(!ChatTemplate::named("chatml").writesBos());
        QCOMPARE(ChatTemplate::named("chatml").endOfTurn(), std::string("<|im_end|>"));
        QVERIFY(ChatTemplate::named("llama3").writesBos());
        QCOMPARE(ChatTemplate::named("llama3").endOfTurn(), std::string("<|eot_id|>"));
        QVERIFY(ChatTemplate::named("llama2").writesBos());
        QCOMPARE(ChatTemplate::named("llama2").endOfTurn(), std::string("</s>"));
        QVERIFY(!ChatTemplate::named("zephyr").writesBos());
        QVERIFY(ChatTemplate::named("gemma").writesBos());
        QCOMPARE(ChatTemplate::named("gemma").endOfTurn(), std::string("<end_of_turn>"));
        // The tokenizer's own BOS text is the one written.
        auto t = ChatTemplate::detect(kLlama3, "<|custom_bos|>");
        QCOMPARE(t.apply({{"user", "x"}}, false).substr(0, 14), std::string("<|custom_bos|>"));
        for (const auto& n : ChatTemplate::names()) QCOMPARE(ChatTemplate::named(n).name(), n);
    }

    void alternationEnforced() {
        std::vector<Message> twoUsers = {{"user", "a"}, {"user", "b"}};
        for (const char* n : {"llama2", "mistral", "gemma"})
            QVERIFY_THROWS_EXCEPTION(dpowb::Error, ChatTemplate::named(n).apply(twoUsers, true));
        QCOMPARE(ChatTemplate::named("chatml").apply(twoUsers, false),
                 std::string("<|im_start|>user\na<|im_end|>\n<|im_start|>user\nb<|im_end|>\n"));
    }
};

QTEST_GUILESS_MAIN(TestChatTemplate)
#include "tst_chat_template.moc"
